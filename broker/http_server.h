// HttpServer: sluiced's HTTP listener for /metrics, /healthz and /readyz
// ([http] listen; docs/observability.md). Boost.Beast is compiled in
// http_server.cc alone; this header keeps it out of every other file.
//
//   GET /metrics  200, Prometheus text 0.0.4 (Routes::metrics; 503 while it is empty)
//   GET /healthz  200 "ok": the process serves
//   GET /readyz   200 "ready", or 503 and the reason (Routes::ready)
//   anything else 404; a method other than GET or HEAD 405
//
// It runs on the broker's io_context, so its handlers run on the loop thread
// between native-protocol events and may read engine state directly; it adds
// nothing to the native path while nobody connects. Bounds: at most
// kMaxConnections connections at once (more wait in the backlog), requests
// of at most kMaxRequestBytes, kTimeout for each read and write, keep-alive.
//
// Threading: every method on the thread that runs the io_context, or while
// no thread runs it (sluiced runs it on a helper thread during start-up, so
// /readyz answers 503 while the store recovers; broker/broker.cc). The HttpServer must outlive the io_context's run(); Stop() closes
// the acceptor and every connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace sluice::broker {

class HttpServer {
 public:
  static constexpr size_t kMaxConnections = 64;
  static constexpr size_t kMaxRequestBytes = 8 << 10;
  static constexpr int kTimeoutSeconds = 10;

  struct Readiness {
    bool ready = false;
    std::string reason;  // why not, when !ready
  };
  struct Routes {
    std::function<std::string()> metrics;  // the /metrics body; empty: 503 "starting"
    std::function<Readiness()> ready;      // /readyz; empty: 503 "starting"
  };

  // Binds and listens on host:port (port 0 = any free port) without
  // accepting yet. Errors name the address (kUnavailable when taken).
  static Result<std::unique_ptr<HttpServer>> Listen(boost::asio::io_context& io,
                                                    const std::string& host, uint16_t port);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts accepting and answering with `routes`.
  void Start(Routes routes);
  // Answers with `routes` from now on. On the thread that runs the
  // io_context's handlers, or while none runs it.
  void SetRoutes(Routes routes);
  // Closes the acceptor and the open connections.
  void Stop();

  // "HOST:PORT", port 0 resolved.
  const std::string& address() const;
  uint16_t port() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::broker
