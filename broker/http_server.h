// HttpServer: sluiced's HTTP listener for /metrics, /healthz, /readyz and
// the routes the broker adds (the dashboard, broker/dashboard_api.h)
// ([http] listen; docs/observability.md). Boost.Beast is compiled in
// http_server.cc alone; this header keeps it out of every other file.
//
//   GET /metrics  200, Prometheus text 0.0.4 (Routes::metrics; 503 while it is empty)
//   GET /healthz  200 "ok": the process serves
//   GET /readyz   200 "ready", or 503 and the reason (Routes::ready)
//   a method other than GET or HEAD on those three: 405
//   a path of Routes::routes: its handler, which answers every method
//   anything else 404
//
// HEAD is answered as GET without the body (a route's handler sees "GET").
// A request larger than kMaxRequestBytes is answered 413 (body) or 431
// (header), another malformed one 400, and the connection is closed.
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
#include <string_view>
#include <utility>
#include <vector>

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

  // One request as a route's handler sees it. The views point into the
  // server's buffers and live for the handler call only: copy what a later
  // answer needs.
  struct Request {
    std::string_view method;         // "GET" (HEAD included), "POST", ...
    std::string_view path;           // the target up to '?'
    std::string_view query;          // after '?', still percent-encoded; "" when none
    std::string_view authorization;  // the Authorization header; "" when none
    std::string_view content_type;   // "" when none
    std::string_view origin;         // the Origin header; "" when none
    std::string_view host;           // the Host header; "" when none
    std::string_view body;           // at most kMaxRequestBytes
    std::string_view peer;           // "ADDRESS:PORT" of the client ("unknown" if unreadable)
  };
  struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // more header fields
  };
  // Answers the request it was handed with, on the loop thread: from the
  // handler or later (an engine callback). The first call answers; later
  // ones do nothing. The connection reads no other request until then, and
  // the responder keeps it open. When the peer left or the server stopped
  // meanwhile, the answer is dropped. Every responder must be called once
  // eventually (one that is destroyed first closes its connection).
  using Responder = std::function<void(Response)>;
  using Handler = std::function<void(const Request&, Responder)>;
  struct Route {
    std::string path;     // "/dashboard"; with `prefix`, "/api/" matches "/api/x"
    bool prefix = false;
    Handler handler;
  };
  struct Routes {
    std::function<std::string()> metrics;  // the /metrics body; empty: 503 "starting"
    std::function<Readiness()> ready;      // /readyz; empty: 503 "starting"
    std::vector<Route> routes;             // the first that matches answers
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
