// The task enums and their names, once. Each list below is the one place an
// enumerator is defined; task.h builds the core enums from them, the broker
// builds its wire mapping from them (broker/wire_convert.cc), and sluicectl's
// offline mode its client mapping. The C++ client names the wire enums by
// lower-casing the schema's names, which are these names upper-cased.
//
//   X(core enumerator, value stored on disk, schema enumerator, name)
//
// The stored values are part of the record format (store/record_format.h):
// never renumber; append. The schema's numbers may differ (its enums also
// hold states that are never stored, e.g. RUNNING).
#pragma once

#define SLUICE_DEAD_REASONS(X)                                          \
  X(kAttemptsExhausted, 1, ATTEMPTS_EXHAUSTED, "attempts_exhausted")    \
  X(kFatalError, 2, FATAL_ERROR, "fatal_error")                         \
  X(kTtlExpired, 3, TTL_EXPIRED, "ttl_expired")                         \
  X(kCancelled, 4, CANCELLED, "cancelled")

// Successful attempts are not recorded (an acked task is deleted). kLost:
// the broker stopped while the attempt was leased; the restart records it
// (core/engine_recovery.cc). Its stored value 4 and schema value 5 were
// reserved as "abandoned", a name nothing ever wrote.
#define SLUICE_ATTEMPT_OUTCOMES(X)                      \
  X(kNacked, 1, NACKED, "nacked")                       \
  X(kNackedFatal, 2, NACKED_FATAL, "nacked_fatal")      \
  X(kLeaseExpired, 3, LEASE_EXPIRED, "lease_expired")   \
  X(kLost, 4, LOST, "lost")                             \
  X(kCancelled, 5, CANCELLED, "cancelled")

// Helpers for the lists above.
#define SLUICE_ENUMERATOR(e, value, wire, name) e = value,
