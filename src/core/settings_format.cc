#include "core/settings_format.h"

#include <cstdio>

namespace sluice::core {

namespace {

// The optional v2 suffix (settings_format.h); nothing after p means tasks.
constexpr std::string_view kUnitTasks = " u=tasks";
constexpr std::string_view kUnitCost = " u=cost";

}  // namespace

std::string EncodeSettings(const Limits& l, bool paused) {
  char buf[160];
  // %.17g: doubles round-trip exactly.
  std::snprintf(buf, sizeof(buf), "w=%u r=%.17g b=%.17g c=%u p=%d", l.weight, l.rate_per_s,
                l.burst, l.max_inflight, paused ? 1 : 0);
  std::string out = buf;
  // Tasks is written as v1 (no u field) so that older releases still read it.
  if (l.rate_unit == RateUnit::kCost) out += kUnitCost;
  return out;
}

bool DecodeSettings(std::string_view text, StoredSettings* out) {
  const std::string s(text);  // sscanf needs a terminated string
  int paused = 0;
  int end = 0;
  if (std::sscanf(s.c_str(), "w=%u r=%lf b=%lf c=%u p=%d%n", &out->limits.weight,
                  &out->limits.rate_per_s, &out->limits.burst, &out->limits.max_inflight, &paused,
                  &end) != 5 ||
      (paused != 0 && paused != 1)) {
    return false;
  }
  const std::string_view rest = std::string_view(s).substr(static_cast<size_t>(end));
  if (rest.empty() || rest == kUnitTasks) {
    out->limits.rate_unit = RateUnit::kTasks;
  } else if (rest == kUnitCost) {
    out->limits.rate_unit = RateUnit::kCost;
  } else {
    return false;
  }
  out->paused = paused == 1;
  return true;
}

}  // namespace sluice::core
