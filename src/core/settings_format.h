// The stored form of a tenant's or a queue's settings: the value of the meta
// column family's "tenant/<name>" and "queue/<name>" keys. The engine writes
// it and reads it back at recovery; sluicectl's offline mode reads it from a
// stopped broker's store. This file is the one place that knows the format.
//
// One line of ASCII, fields separated by one space, in this order:
//
//   w=<weight> r=<rate> b=<burst> c=<max_inflight> p=<0|1>[ u=<tasks|cost>][ q=<n>][ s=<n>]
//   e.g. "w=3 r=100 b=10 c=5 p=0"          (rate counts tasks)
//        "w=3 r=100 b=10 c=5 p=0 u=cost"   (rate counts cost units)
//        "w=1 r=0 b=0 c=0 p=0 q=1000 s=1048576"   (a tenant with quotas)
//
//   w  Limits::weight, decimal uint32
//   r  Limits::rate_per_s, a double printed with %.17g (round-trips exactly)
//   b  Limits::burst, likewise
//   c  Limits::max_inflight, decimal uint32
//   p  paused: 1 or 0 (queues; always 0 for tenants)
//   u  Limits::rate_unit: "tasks" or "cost"; absent = tasks
//   q  Limits::max_queued, decimal uint64, no sign; absent = 0 (no quota)
//   s  Limits::max_bytes, likewise
//
// Versions and the upgrade rule:
//   v1 (before rate units): the five fields w r b c p, nothing after p.
//   v2: an optional sixth field u. A v1 value decodes as rate_unit tasks, so
//       stores written by older releases need no migration. The encoder
//       writes u only for cost, so a value whose unit is tasks stays
//       byte-for-byte v1 and an older release can still read it after a
//       downgrade; only settings with rate_unit cost are unreadable to v1
//       (its recovery reports Corruption naming the key).
//   v3 (tenant quotas): optional q, then optional s, after u (or after p
//       when u is absent), each written only when not 0. A v1 or v2 value
//       decodes as "no quota"; a value without quotas stays byte-for-byte
//       v2 (or v1), readable by older releases; one with a quota is
//       unreadable to them (Corruption naming the key, as for u=cost).
//   A later field goes after s, optional, with a default that means
//   "as before"; the decoder refuses anything it does not know.
//
// Leniency kept from the sscanf decoder of v1 (so that no value an earlier
// release accepted is refused now): before r, b, c and p any run of white
// space stands for the one space, and each number may be preceded by white
// space and a sign. The u, q and s suffixes are matched exactly: one space,
// the name, '=', and for q and s one or more digits that fit in 64 bits.
//
// The keys, and the other meta values, are in meta_format.h.
#pragma once

#include <string>
#include <string_view>

#include "core/meta_format.h"  // kTenantSettingsPrefix, kQueueSettingsPrefix
#include "core/scheduler.h"

namespace sluice::core {

struct StoredSettings {
  Limits limits;
  bool paused = false;  // queues only; always false for tenants
  friend bool operator==(const StoredSettings&, const StoredSettings&) = default;
};

std::string EncodeSettings(const Limits& limits, bool paused);
// False, with `out` unspecified, when `text` is not in the stored form (v1,
// v2 or v3 above).
bool DecodeSettings(std::string_view text, StoredSettings* out);

}  // namespace sluice::core
