// AuditWriter: the audit log's writer thread (docs/security.md, "Audit
// log"). The loop thread hands it complete lines; the writer thread appends
// every line queued since its last turn with one write, makes them durable
// with one fdatasync (group commit, as the store does), and posts each
// line's completion back to the loop. A reply that waits for its line's
// completion is therefore sent only once the line is on disk, and the loop
// never waits for the disk.
//
//   loop thread                        writer thread
//   Submit(line, done) --queue--> write(all queued) + fdatasync
//                                          |
//   done(OK or kUnavailable) <--post-------+
//
// Failure: a write or fdatasync that fails answers every line of that turn
// with kUnavailable naming the log and the error, and marks the writer
// unhealthy (healthy() false) until a later turn succeeds. The bytes not yet
// written are kept (at most kMaxUnwrittenBytes; past that lines are dropped
// and counted as errors) and written first by the next turn, which comes
// with the next Submit or after kRetryInterval: once the disk takes writes
// again, the lines of failed turns reach the file too, late, in order, and
// healthy() turns true by itself. A partial write is continued from where it
// stopped, so no line is doubled or cut.
//
// A file target is opened for append and created with mode 0600; when its
// last byte is not '\n' (a line torn by a crash of the machine) a '\n' is
// written first, so the torn line stays alone. Standard error ("-" or
// "stderr") is written but not synced.
//
// Threads: Submit and the accessors from any thread; completions run where
// `post` runs them (the loop thread in sluiced).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"

namespace sluice::broker {

// Where the lines go. Used by the writer thread only.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Writes a prefix of `data` (not empty): how many bytes, > 0, or the error.
  virtual Result<size_t> Write(std::string_view data) = 0;
  // Makes what was written durable; OK where that means nothing (a pipe).
  virtual Status Sync() = 0;
};

// `target`: "-" or "stderr", or a file path. kInvalidArgument naming the path
// and the error when it cannot be opened (or its torn last line mended).
// Logs a warning when an existing file is readable by group or others.
Result<std::unique_ptr<AuditSink>> OpenAuditSink(const std::string& target);

class AuditWriter {
 public:
  using Post = std::function<void(std::function<void()>)>;
  using Done = std::function<void(Status)>;

  static constexpr size_t kMaxUnwrittenBytes = 16u << 20;
  static constexpr std::chrono::milliseconds kRetryInterval{1000};

  // `target` names the log in messages. Starts the writer thread.
  AuditWriter(std::unique_ptr<AuditSink> sink, std::string target, Post post);
  // Writes what is queued (one last try), posts those completions, joins.
  ~AuditWriter();
  AuditWriter(const AuditWriter&) = delete;
  AuditWriter& operator=(const AuditWriter&) = delete;

  // Queues `line` (one complete line, '\n' included). `done` is posted with
  // OK once the line is written and synced, or with kUnavailable.
  void Submit(std::string line, Done done);

  // False from a failed turn until a turn succeeds.
  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  // The last failure ("" before any): "write: No space left on device".
  std::string last_error() const;
  const std::string& target() const { return target_; }
  uint64_t lines_written() const { return lines_written_.load(std::memory_order_relaxed); }
  // Failed turns, plus lines dropped past kMaxUnwrittenBytes.
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    std::string line;
    Done done;
  };

  void Run();
  // One turn over `batch` (writer thread, mutex not held).
  Status WriteTurn(std::vector<Pending>& batch);

  std::unique_ptr<AuditSink> sink_;
  const std::string target_;
  const Post post_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;  // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  std::string last_error_;      // guarded by mu_

  // Writer thread only: bytes of failed turns not yet written, how many
  // lines they hold, and whether written bytes still wait for a sync.
  std::string unwritten_;
  uint64_t unwritten_lines_ = 0;
  uint64_t unsynced_lines_ = 0;

  std::atomic<bool> healthy_{true};
  std::atomic<uint64_t> lines_written_{0};
  std::atomic<uint64_t> errors_{0};
  std::thread thread_;  // last: started after every member above exists
};

}  // namespace sluice::broker
