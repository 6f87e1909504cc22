#include "net/server.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

namespace sluice::net {

namespace asio = boost::asio;
using asio::ip::tcp;

Server::Server(asio::io_context& io, ServerOptions options, RequestHandler* handler)
    : io_(io), options_(std::move(options)), handler_(handler), acceptor_(io) {}

Server::~Server() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

Result<tcp::endpoint> Server::Listen(const std::string& host, uint16_t port) {
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return Status::InvalidArgument("listen address '" + where +
                                   "': not an IP address (" + ec.message() + ")");
  }
  const tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + where + ": " + ec.message());
  }
  const auto bound = acceptor_.local_endpoint(ec);
  if (ec) return Status::Unavailable("cannot read the bound address: " + ec.message());
  return bound;
}

void Server::Start() {
  accepting_ = true;
  DoAccept();
}

void Server::StopAccepting() {
  accepting_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void Server::DoAccept() {
  if (!accepting_) return;
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (!accepting_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        spdlog::warn("accept failed: {}", ec.message());
      }
      DoAccept();
      return;
    }
    const uint64_t id = next_id_++;
    if (sessions_.size() >= options_.max_connections) {
      // Not tracked: the session keeps itself alive through its handlers.
      auto refused = std::make_shared<Session>(std::move(socket), id, options_.session,
                                               handler_, nullptr);
      refused->Reject(Code::kResourceExhausted,
                      "too many connections (max_connections " +
                          std::to_string(options_.max_connections) + "); retry later");
    } else {
      auto session = std::make_shared<Session>(std::move(socket), id, options_.session,
                                               handler_, [this](uint64_t sid) { OnClosed(sid); });
      sessions_.emplace(id, session);
      session->Start();
    }
    DoAccept();
  });
}

void Server::OnClosed(uint64_t id) {
  sessions_.erase(id);
  if (sessions_.empty() && all_closed_) {
    auto done = std::move(all_closed_);
    all_closed_ = nullptr;
    asio::post(io_, std::move(done));
  }
}

void Server::CloseAllGracefully(std::function<void()> done) {
  all_closed_ = std::move(done);
  if (sessions_.empty()) {
    OnClosed(0);
    return;
  }
  std::vector<std::shared_ptr<Session>> live;
  for (auto& [id, s] : sessions_) live.push_back(s);
  for (auto& s : live) s->CloseGracefully("broker shutting down");
}

void Server::CloseAll(const std::string& reason) {
  std::vector<std::shared_ptr<Session>> live;
  for (auto& [id, s] : sessions_) live.push_back(s);
  for (auto& s : live) s->Close(reason);
}

}  // namespace sluice::net
