// CommandLine: one parsed sluicectl invocation (main.cc fills it with CLI11),
// and the exit codes every command returns.
//
// Exit codes are part of the script contract:
//   0  success
//   1  the request failed (broker unreachable, refused, not found, a token
//      that is no longer current, a store that cannot be opened, ...)
//   2  usage error (unknown flag, bad value, a command that needs the broker
//      run with --data-dir, ...)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/protocol_defaults.h"

namespace sluice::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRequestError = 1;
inline constexpr int kExitUsageError = 2;


enum class Command {
  kNone,
  kStats,
  kQueues,
  kEnqueue,
  kLease,
  kAck,
  kNack,
  kTaskShow,
  kDlqList,
  kDlqShow,
  kDlqRedrive,
  kDlqPurge,
  kTenantSet,
  kTenantList,
  kQueuePause,
  kQueueResume,
};

// The name a person types, e.g. "dlq redrive" (for messages).
const char* CommandName(Command command);

struct GlobalOptions {
  std::string broker = wire::kDefaultAddress;  // HOST:PORT
  bool json = false;                    // one JSON object on stdout
  std::string data_dir;                 // non-empty: offline, read-only store inspection
  std::string token;                    // auth token for the hello
};

struct EnqueueArgs {
  std::string queue;
  std::string tenant;
  std::optional<uint32_t> priority;
  uint32_t delay_ms = 0;
  std::optional<std::string> payload;
  std::optional<std::string> payload_file;  // "-" = stdin
  std::string idempotency_key;
  uint32_t max_attempts = 0;
  std::vector<std::string> headers;  // "K=V"
  uint32_t ttl_ms = 0;
};

struct LeaseArgs {
  std::string queue;
  uint32_t count = 1;
  uint32_t wait_ms = 0;
  uint32_t lease_ms = 0;
  std::string worker;  // empty = "sluicectl"
};

struct NackArgs {
  std::string token;
  std::string error;
  bool fatal = false;
  std::optional<uint32_t> delay_ms;
};

// Filters shared by dlq list / redrive / purge.
struct DlqFilterArgs {
  std::string queue;
  std::string tenant;
  std::string reason;  // a DeadReason name ("fatal_error", ...); empty = any
  std::string error_contains;
};

struct DlqArgs {
  DlqFilterArgs filter;
  uint64_t after = 0;          // list: page cursor
  uint32_t limit = 0;          // list: page size (0 = wire::kDefaultDlqPage); redrive/purge: at most (0 = all)
  std::vector<uint64_t> ids;   // show: exactly one; redrive/purge: explicit ids
  double rate = 0;             // redrive: tasks per second, 0 = unpaced
  bool all = false;            // redrive/purge with no filter and no ids: everything
  bool yes = false;            // purge: confirmation
};

struct TenantSetArgs {
  std::string name;
  std::optional<uint32_t> weight;
  std::optional<double> rate;
  std::optional<uint32_t> burst;
  std::optional<uint32_t> max_inflight;
  std::optional<std::string> rate_unit;  // "tasks" or "cost" (CLI11 checks); unset = unchanged
};

struct CommandLine {
  GlobalOptions global;
  Command command = Command::kNone;
  EnqueueArgs enqueue;
  LeaseArgs lease;
  std::vector<std::string> ack_tokens;
  NackArgs nack;
  uint64_t task_id = 0;  // task show
  DlqArgs dlq;
  TenantSetArgs tenant_set;
  std::string queue_name;  // queue pause / resume; stats filter
};

}  // namespace sluice::ctl
