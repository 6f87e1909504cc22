#include "net/io_backend.h"

#include <cstring>

#include <boost/asio/detail/config.hpp>

#if defined(SLUICE_IO_URING)
#include <liburing.h>
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "SLUICE_IO_URING needs io_uring as Asio's default reactor (BOOST_ASIO_DISABLE_EPOLL)"
#endif
#endif

namespace sluice::net {

IoBackendInfo ProbeIoBackend() {
  IoBackendInfo info;
#if defined(SLUICE_IO_URING)
  info.name = "io_uring";
  io_uring ring;
  const int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) {
    info.usable = false;
    info.detail = std::string("io_uring_queue_init failed: ") + std::strerror(-rc) +
                  "; this build has no epoll fallback: rebuild with -DSLUICE_IO_URING=OFF "
                  "(see docs/io_backend.md)";
    return info;
  }
  io_uring_queue_exit(&ring);
  info.detail = "io_uring_queue_init ok (sockets and timers on io_uring)";
#else
  info.name = "epoll";
  info.detail =
      "built with -DSLUICE_IO_URING=OFF, the default: epoll measured faster than Asio 1.81's "
      "io_uring reactor (docs/io_backend.md); -DSLUICE_IO_URING=ON selects io_uring";
#endif
  return info;
}

}  // namespace sluice::net
