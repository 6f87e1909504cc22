// Which Asio reactor this build uses, and whether the kernel allows it.
//
// The choice is made at compile time (see src/net/CMakeLists.txt and
// docs/io_backend.md): with SLUICE_IO_URING the io_context runs on io_uring
// and cannot fall back to epoll at run time, so the broker calls
// ProbeIoBackend() before creating its io_context and refuses to start when
// the kernel (or a seccomp filter) rejects io_uring.
#pragma once

#include <string>

namespace sluice::net {

struct IoBackendInfo {
  // "io_uring" or "epoll": the reactor compiled in.
  std::string name;
  // False when the compiled-in backend cannot run here (io_uring refused).
  bool usable = true;
  // Human-readable detail: the probe result, or what the operator must do.
  std::string detail;
};

// Probes the compiled-in backend (io_uring_queue_init + exit on a tiny ring).
// Any thread; no side effects beyond the probe.
IoBackendInfo ProbeIoBackend();

}  // namespace sluice::net
