// EventLog: the lifecycle event log ([events] log, --event-log): one JSON
// object per line per core::LifecycleEvent (docs/observability.md, "Events").
//
//   {"ts":1733360000123,"event":"leased","id":42,"queue":"q","tenant":"t",
//    "attempt":1,"worker":"w1","traceparent":"00-...-01"}
//
// "worker" and "traceparent" are left out when empty.
//
// Off the hot path: Add (loop thread) appends the line to an in-memory
// buffer; the buffer is written with one write(2) once it holds
// kFlushBytes, or kFlushDelayMs after its first line (a timer on the loop),
// whichever comes first: a line reaches the file at most kFlushDelayMs after
// its event while the loop runs, and a few hundred lines share a syscall
// under load. The buffer is bounded (kMaxBufferedBytes): a line
// that does not fit is dropped and counted (dropped()), the loop never waits
// for the log. A write error drops that turn's lines (counted) and is logged
// once. A regular file's write(2) goes to the page cache; a stderr that is a
// full pipe could block the loop for as long as its reader stalls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "core/engine_types.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace sluice::broker {

// Appends the event's line, '\n' included. Strings are escaped by
// common/json_writer.h AppendJsonString (bytes that are not UTF-8 become
// U+FFFD, so every line is valid JSON).
void AppendEventJson(const core::LifecycleEvent& e, std::string* out);

class EventLog {
 public:
  static constexpr size_t kMaxBufferedBytes = 8u << 20;
  static constexpr size_t kFlushBytes = 64u << 10;
  static constexpr int kFlushDelayMs = 10;

  // `target`: "-" or "stderr" = standard error; else a file path, opened for
  // append and created (0644) if missing. kInvalidArgument naming the path
  // when it cannot be opened. `io` must outlive the EventLog.
  static Result<std::unique_ptr<EventLog>> Open(const std::string& target,
                                                boost::asio::io_context& io);
  ~EventLog();  // writes what is still buffered
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Loop thread only.
  void Add(const core::LifecycleEvent& e);
  // Writes what is buffered now.
  void Flush();

  uint64_t written() const { return written_; }  // lines written
  uint64_t dropped() const { return dropped_; }  // lines dropped (buffer full, write error)

 private:
  struct FlushTimer;  // the asio timer, kept out of this header
  EventLog(int fd, bool owned, std::string target, boost::asio::io_context& io);

  int fd_;
  bool owned_;
  std::string target_;
  std::unique_ptr<FlushTimer> timer_;
  std::string buffer_;
  uint64_t buffered_lines_ = 0;
  bool flush_armed_ = false;
  bool error_logged_ = false;
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace sluice::broker
