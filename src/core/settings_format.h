// The stored form of a tenant's or a queue's settings: the value of the meta
// column family's "tenant/<name>" and "queue/<name>" keys, e.g.
// "w=3 r=100 b=10 c=5 p=0" (weight, rate per second, burst, max in flight,
// paused). The engine writes it and reads it back at recovery; sluicectl's
// offline mode reads it from a stopped broker's store. This file is the one
// place that knows the format.
#pragma once

#include <string>
#include <string_view>

#include "core/scheduler.h"

namespace sluice::core {

inline constexpr std::string_view kTenantSettingsPrefix = "tenant/";
inline constexpr std::string_view kQueueSettingsPrefix = "queue/";

struct StoredSettings {
  Limits limits;
  bool paused = false;  // queues only; always false for tenants
  friend bool operator==(const StoredSettings&, const StoredSettings&) = default;
};

std::string EncodeSettings(const Limits& limits, bool paused);
// False, with `out` unspecified, when `text` is not in the stored form.
bool DecodeSettings(std::string_view text, StoredSettings* out);

}  // namespace sluice::core
