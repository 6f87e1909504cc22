#include "offline_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <system_error>
#include <utility>

#include <sluice/wire/sluice_generated.h>

#include "core/meta_format.h"

namespace sluice::ctl {

namespace {

// The pid of a sluiced that holds DIR/sluiced.pid's lock (broker/pid_file.h),
// or 0 when none does. Takes a shared lock for a moment: it fails only while
// the broker's exclusive one is held.
long LiveBrokerPid(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "sluiced.pid").string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  if (!locked) return 0;
  long pid = -1;
  std::ifstream(path) >> pid;
  return pid;
}

// OK when this build reads the store's format (core/meta_format.h); the
// reason, naming what to do, when a newer sluiced wrote it.
Status CheckFormat(store::RocksStore& store) {
  auto text = store.GetMeta(core::kFormatKey);
  if (!text.ok()) {
    return text.status().code() == Code::kNotFound ? Status::Ok() : text.status();
  }
  auto format = core::DecodeMetaNumber(core::kFormatKey, *text);
  if (!format.ok()) return format.status();
  Status st = core::CheckStoreFormat(*format);
  if (!st.ok()) {
    return Status(st.code(), st.message() + " (and a sluicectl as new as it for --data-dir)");
  }
  return st;
}

}  // namespace

std::unique_ptr<store::RocksStore> OpenStoreReadOnly(const std::string& dir, std::ostream& err) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    err << "sluicectl: no sluice store in " << dir
        << " (no RocksDB CURRENT file there) - pass the broker's data directory (data_dir in "
           "sluiced.toml or its --data-dir)\n";
    return nullptr;
  }
  store::StoreOptions options;
  options.dir = dir;
  options.read_only = true;
  options.post = [](std::function<void()> fn) { fn(); };
  auto opened = store::RocksStore::Open(std::move(options));
  if (!opened.ok()) {
    err << "sluicectl: cannot open the store in " << dir
        << " read-only: " << opened.status().ToString()
        << " - pass the broker's data directory (data_dir in sluiced.toml)\n";
    return nullptr;
  }
  if (Status st = CheckFormat(**opened); !st.ok()) {
    err << "sluicectl: cannot read the store in " << dir << ": " << st.ToString() << "\n";
    return nullptr;
  }
  if (const long pid = LiveBrokerPid(dir); pid != 0) {
    err << "sluicectl: note: a sluiced (pid " << pid << ") is running on " << dir
        << ": this read-only view may be behind it, and its leased tasks show as ready; "
           "use the network commands (--broker HOST:PORT) for the live state\n";
  }
  return std::move(*opened);
}

uint64_t NowEpochMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The client's enums carry the schema's values (client/types.h).
client::DeadReason ToClient(core::DeadReason r) {
  switch (r) {
#define SLUICE_CLIENT_CASE(e, value, w, name) \
  case core::DeadReason::e:                      \
    return static_cast<client::DeadReason>(wire::fb::DeadReason::w);
    SLUICE_DEAD_REASONS(SLUICE_CLIENT_CASE)
#undef SLUICE_CLIENT_CASE
  }
  return client::DeadReason::kNone;
}

namespace {

client::AttemptOutcome ToClient(core::AttemptOutcome o) {
  switch (o) {
#define SLUICE_CLIENT_CASE(e, value, w, name) \
  case core::AttemptOutcome::e:                  \
    return static_cast<client::AttemptOutcome>(wire::fb::AttemptOutcome::w);
    SLUICE_ATTEMPT_OUTCOMES(SLUICE_CLIENT_CASE)
#undef SLUICE_CLIENT_CASE
  }
  return client::AttemptOutcome::kRunning;
}

}  // namespace

client::TaskInfo ToClient(const core::TaskRecord& r, uint64_t now_ms) {
  client::TaskInfo t;
  t.id = r.id;
  t.state = static_cast<uint64_t>(r.not_before_ms) > now_ms ? client::TaskState::kDelayed
                                                             : client::TaskState::kReady;
  t.queue = r.queue;
  t.tenant = r.tenant;
  t.priority = r.priority;
  t.payload = r.payload;
  for (const auto& h : r.headers) t.headers.push_back({h.key, h.value});
  t.max_attempts = r.max_attempts;
  t.attempt = r.attempts;
  t.backoff = {.initial_ms = r.backoff_initial_ms, .max_ms = r.backoff_max_ms};
  t.lease_ms = r.lease_ms;
  t.enqueued_ms = static_cast<uint64_t>(r.enqueued_ms);
  t.not_before_ms = static_cast<uint64_t>(r.not_before_ms);
  t.expires_ms = static_cast<uint64_t>(r.expires_ms);
  t.batch_key = r.batch_key;
  t.cost = r.cost;
  t.idempotency_key = r.idempotency_key;
  if (!r.checkpoint.empty()) t.checkpoint = r.checkpoint;
  for (const auto& a : r.history) {
    t.attempts.push_back({.attempt = a.attempt,
                          .worker = a.worker,
                          .started_ms = static_cast<uint64_t>(a.started_ms),
                          .ended_ms = static_cast<uint64_t>(a.ended_ms),
                          .outcome = ToClient(a.outcome),
                          .error = a.error});
  }
  return t;
}

client::DlqEntry ToEntry(const core::DeadRecord& d) {
  client::DlqEntry e;
  e.id = d.task.id;
  e.queue = d.task.queue;
  e.tenant = d.task.tenant;
  e.reason = ToClient(d.reason);
  e.attempts = d.task.attempts;
  if (!d.task.history.empty()) e.last_error = d.task.history.back().error;
  e.enqueued_ms = static_cast<uint64_t>(d.task.enqueued_ms);
  e.dead_ms = static_cast<uint64_t>(d.died_ms);
  return e;
}

}  // namespace sluice::ctl
