// Server: the TCP acceptor and the set of live Sessions.
//
// Admission: every accepted connection is a Session, counted against
// max_connections until it closes. Connections that have not said Hello yet
// ("pending") are also capped at max_pending_hello, and a newcomer takes the
// place of the oldest pending one when either cap is reached:
//
//   accept --> pending == max_pending_hello, or all max_connections taken
//              |   and one of them pending?  --yes--> evict the oldest pending
//              |                                      (Error{RESOURCE_EXHAUSTED})
//              v
//           all max_connections taken? --yes--> refuse the newcomer
//              |                                (Error{RESOURCE_EXHAUSTED})
//              v
//           new pending Session (hello deadline: SessionOptions)
//
// So silent sockets hold at most max_pending_hello slots, cannot keep a
// client that says Hello at once out, and never displace a client that has
// said Hello (docs/protocol.md, "Admission").
//
// Threading: all methods on the io_context's loop thread (Listen may run
// before the loop starts). The Server must outlive the io_context's run().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "net/session.h"

namespace sluice::net {

struct ServerOptions {
  SessionOptions session;
  // Non-null: every connection speaks TLS with this server Context (one
  // listener, TLS or not; docs/security.md). Replaced by SetTls.
  std::shared_ptr<const tls::Context> tls;
  size_t max_connections = 10'000;  // more are refused with RESOURCE_EXHAUSTED
  // Connections that have not said Hello; at least 1, at most max_connections.
  size_t max_pending_hello = 2'500;
};

// Opens, binds and listens on host:port (port 0 = any free port) without
// accepting: connections wait in the kernel's backlog until a Server started
// on the acceptor takes them. Errors (kInvalidArgument for a bad address,
// kUnavailable when the address is taken) name the address.
Result<boost::asio::ip::tcp::acceptor> Listen(boost::asio::io_context& io, const std::string& host,
                                              uint16_t port);

class Server {
 public:
  // `acceptor`: listening (Listen above). `handler` must outlive the Server.
  Server(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor acceptor,
         ServerOptions options, RequestHandler* handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts accepting.
  void Start();
  // Closes the acceptor; live sessions go on.
  void StopAccepting();
  // Every session stops reading and closes after its pending responses went
  // out. `done` runs (on the loop thread) once no session is left.
  void CloseAllGracefully(std::function<void()> done);
  // Closes every session now.
  void CloseAll(const std::string& reason);
  // Connections accepted from now on use `tls` (a reloaded certificate);
  // open ones keep the Context they started with. Precondition: the Server
  // was made with TLS, and `tls` is a server Context.
  void SetTls(std::shared_ptr<const tls::Context> tls);
  bool tls() const { return options_.tls != nullptr; }

  size_t connections() const { return sessions_.size(); }
  // Connections that have not said Hello yet.
  size_t pending_hello() const { return pending_.size(); }
  const NetCounters& counters() const { return counters_; }

 private:
  void DoAccept();
  void Admit(boost::asio::ip::tcp::socket socket);
  void OnClosed(uint64_t id);

  boost::asio::io_context& io_;
  ServerOptions options_;  // options_.session.counters points at counters_
  NetCounters counters_;
  RequestHandler* handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // Backs off accepting after EMFILE/ENFILE, instead of spinning on the
  // connection that waits in the backlog.
  boost::asio::steady_timer accept_retry_;
  bool accepting_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  // The sessions of sessions_ that have not said Hello (and not closed),
  // oldest (lowest id) first.
  std::map<uint64_t, Session*> pending_;
  std::function<void()> all_closed_;
};

}  // namespace sluice::net
