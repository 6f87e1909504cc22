// Server: the TCP acceptor and the set of live Sessions.
//
// Threading: all methods on the io_context's loop thread (Listen may run
// before the loop starts). The Server must outlive the io_context's run().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
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
  size_t max_connections = 1024;  // more are refused with RESOURCE_EXHAUSTED
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, RequestHandler* handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on host:port (port 0 = any free port). Returns the bound
  // endpoint. Errors (kInvalidArgument for a bad address, kUnavailable when
  // the address is taken) name the address.
  Result<boost::asio::ip::tcp::endpoint> Listen(const std::string& host, uint16_t port);
  // Starts accepting (after Listen).
  void Start();
  // Closes the acceptor; live sessions go on.
  void StopAccepting();
  // Every session stops reading and closes after its pending responses went
  // out. `done` runs (on the loop thread) once no session is left.
  void CloseAllGracefully(std::function<void()> done);
  // Closes every session now.
  void CloseAll(const std::string& reason);

  size_t connections() const { return sessions_.size(); }

 private:
  void DoAccept();
  void OnClosed(uint64_t id);

  boost::asio::io_context& io_;
  ServerOptions options_;
  RequestHandler* handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  bool accepting_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  std::function<void()> all_closed_;
};

}  // namespace sluice::net
