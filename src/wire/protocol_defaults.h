// The protocol's defaults and constants: the one place each is defined.
// The broker, the C++ client, sluicectl and the examples read them from
// here (a Python client mirrors them), so two programs can never disagree on
// the port or on what "0 = default" means in a request. docs/protocol.md
// quotes them.
#pragma once

#include <cstdint>

namespace sluice::wire {

// Where sluiced listens unless told otherwise, and where clients look.
inline constexpr char kDefaultHost[] = "127.0.0.1";
inline constexpr uint16_t kDefaultPort = 7400;
inline constexpr char kDefaultAddress[] = "127.0.0.1:7400";

// DlqList with limit 0 returns this many dead letters; a larger limit is cut
// to kMaxDlqPage. DlqRedrive / DlqPurge move at most kMaxDlqBatch per request
// (limit 0 = up to that many); a client pages through more.
inline constexpr uint32_t kDefaultDlqPage = 100;
inline constexpr uint32_t kMaxDlqPage = 10'000;
inline constexpr uint32_t kMaxDlqBatch = 10'000;

// TaskList with limit 0 returns this many tasks; a larger limit is cut to
// kMaxTaskPage (core::Engine::kMaxBrowsePage agrees).
inline constexpr uint32_t kDefaultTaskPage = 100;
inline constexpr uint32_t kMaxTaskPage = 1'000;

// A task that sets no cost (0 on the wire) costs this much.
inline constexpr uint32_t kDefaultCost = 1;

// Priority levels: 0 is the most urgent, kLowestPriority the least. A task
// that sets no priority (TaskSpec.has_priority false) gets the broker's
// configured default ([tasks] default_priority), itself 4 unless configured.
inline constexpr uint8_t kLowestPriority = 7;
inline constexpr uint8_t kDefaultPriority = 4;

// A task's own lease (TaskSpec.lease_ms, a lease's or heartbeat's lease_ms)
// is 0 (= the default) or kMinLeaseMs .. kMaxLeaseMs (12 hours); its retry
// backoff delays (initial and max) are at most kMaxBackoffMs (one day). The
// broker refuses a value out of range; clients may check first. The engine's
// defaults in src/core/engine_types.h (EngineOptions min_lease_ms,
// max_lease_ms, max_backoff_ms) must agree: src/core may not include wire,
// so broker/config.cc static_asserts that they do.
inline constexpr uint32_t kMinLeaseMs = 10;
inline constexpr uint32_t kMaxLeaseMs = 12 * 3600 * 1000;    // 43,200,000
inline constexpr uint32_t kMaxBackoffMs = 24 * 3600 * 1000;  // 86,400,000

}  // namespace sluice::wire
