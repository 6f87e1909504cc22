#include "broker/event_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "common/json_writer.h"

namespace sluice::broker {

namespace {

template <typename Int>
void AppendInt(Int v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

}  // namespace

void AppendEventJson(const core::LifecycleEvent& e, std::string* out) {
  out->append("{\"ts\":");
  AppendInt(e.ts_ms, out);
  out->append(",\"event\":\"");
  out->append(core::LifecycleEventName(e.kind));
  out->append("\",\"id\":");
  AppendInt(e.id, out);
  out->append(",\"queue\":");
  AppendJsonString(e.queue, out);
  out->append(",\"tenant\":");
  AppendJsonString(e.tenant, out);
  out->append(",\"attempt\":");
  AppendInt(e.attempt, out);
  if (!e.worker.empty()) {
    out->append(",\"worker\":");
    AppendJsonString(e.worker, out);
  }
  if (!e.traceparent.empty()) {
    out->append(",\"traceparent\":");
    AppendJsonString(e.traceparent, out);
  }
  out->append("}\n");
}

Result<std::unique_ptr<EventLog>> EventLog::Open(const std::string& target,
                                                 boost::asio::io_context& io) {
  if (target == "-" || target == "stderr") {
    return std::unique_ptr<EventLog>(new EventLog(STDERR_FILENO, false, "stderr", io));
  }
  const int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::InvalidArgument("cannot open the event log " + target + ": " +
                                   std::strerror(errno) +
                                   " (check [events] log / --event-log and the directory)");
  }
  return std::unique_ptr<EventLog>(new EventLog(fd, true, target, io));
}

struct EventLog::FlushTimer {
  explicit FlushTimer(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
};

EventLog::EventLog(int fd, bool owned, std::string target, boost::asio::io_context& io)
    : fd_(fd),
      owned_(owned),
      target_(std::move(target)),
      timer_(std::make_unique<FlushTimer>(io)) {
  buffer_.reserve(kFlushBytes + 4096);
}

EventLog::~EventLog() {
  timer_->timer.cancel();
  Flush();
  if (dropped_ > 0) {
    spdlog::warn("event log {}: {} lines dropped (buffer full or write errors)", target_, dropped_);
  }
  if (owned_) ::close(fd_);
}

void EventLog::Add(const core::LifecycleEvent& e) {
  if (buffer_.size() >= kMaxBufferedBytes) {
    ++dropped_;
    return;
  }
  AppendEventJson(e, &buffer_);
  ++buffered_lines_;
  if (buffer_.size() >= kFlushBytes) {
    Flush();
    return;
  }
  if (!flush_armed_) {
    flush_armed_ = true;
    timer_->timer.expires_after(std::chrono::milliseconds(kFlushDelayMs));
    // The timer is cancelled (operation_aborted) only by the destructor,
    // which flushes itself; `this` is alive whenever the handler flushes.
    timer_->timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      flush_armed_ = false;
      Flush();
    });
  }
}

void EventLog::Flush() {
  size_t off = 0;
  while (off < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + off, buffer_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!error_logged_) {
        error_logged_ = true;
        spdlog::error("event log {}: write failed: {}; lines are dropped until it works", target_,
                      n < 0 ? std::strerror(errno) : "no progress");
      }
      dropped_ += buffered_lines_;
      buffered_lines_ = 0;
      buffer_.clear();
      return;
    }
    off += static_cast<size_t>(n);
  }
  written_ += buffered_lines_;
  buffered_lines_ = 0;
  buffer_.clear();
}

}  // namespace sluice::broker
