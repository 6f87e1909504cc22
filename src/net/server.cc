#include "net/server.h"

#include <boost/asio/post.hpp>
#include <boost/system/errc.hpp>
#include <spdlog/spdlog.h>

#include <cassert>
#include <chrono>
#include <utility>
#include <vector>

#include "tls/tls_context.h"

namespace sluice::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Pause before accepting again after the process or the system ran out of
// file descriptors.
constexpr std::chrono::milliseconds kAcceptRetry{100};

}  // namespace

Result<tcp::acceptor> Listen(asio::io_context& io, const std::string& host, uint16_t port) {
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return Status::InvalidArgument("listen address '" + where +
                                   "': not an IP address (" + ec.message() + ")");
  }
  const tcp::endpoint endpoint(address, port);
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + where + ": " + ec.message());
  }
  return acceptor;
}

Server::Server(asio::io_context& io, tcp::acceptor acceptor, ServerOptions options,
               RequestHandler* handler)
    : io_(io),
      options_(std::move(options)),
      handler_(handler),
      acceptor_(std::move(acceptor)),
      accept_retry_(io) {
  options_.session.counters = &counters_;
}

Server::~Server() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void Server::Start() {
  accepting_ = true;
  DoAccept();
}

void Server::StopAccepting() {
  accepting_ = false;
  accept_retry_.cancel();
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void Server::DoAccept() {
  if (!accepting_) return;
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (!accepting_) return;
    if (ec == boost::system::errc::too_many_files_open ||
        ec == boost::system::errc::too_many_files_open_in_system) {
      spdlog::warn("accept failed: {}; retrying in {} ms (raise the open-files limit or lower "
                   "limits.max_connections)",
                   ec.message(), kAcceptRetry.count());
      accept_retry_.expires_after(kAcceptRetry);
      accept_retry_.async_wait([this](const boost::system::error_code& tec) {
        if (!tec) DoAccept();
      });
      return;
    }
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        spdlog::warn("accept failed: {}", ec.message());
      }
      DoAccept();
      return;
    }
    Admit(std::move(socket));
    DoAccept();
  });
}

void Server::Admit(tcp::socket socket) {
  const uint64_t id = next_id_++;
  ++counters_.accepted;
  const bool full = sessions_.size() >= options_.max_connections;
  if (!pending_.empty() && (full || pending_.size() >= options_.max_pending_hello)) {
    // The oldest silent connection gives way: Evict closes it now, and
    // OnClosed drops it from both maps before the newcomer is counted.
    Session* oldest = pending_.begin()->second;
    ++counters_.evicted;
    oldest->Evict(Code::kResourceExhausted,
                  "closed before Hello: " + std::to_string(pending_.size()) +
                      " connections were waiting to say Hello (limits.max_pending_hello " +
                      std::to_string(options_.max_pending_hello) +
                      "); send Hello right after connecting");
  }
  if (sessions_.size() >= options_.max_connections) {
    // Not tracked: the session keeps itself alive through its handlers.
    ++counters_.refused;
    auto refused = std::make_shared<Session>(std::move(socket), id, options_.session, handler_,
                                             SessionHooks{}, options_.tls);
    refused->Reject(Code::kResourceExhausted,
                    "too many connections (max_connections " +
                        std::to_string(options_.max_connections) + "); retry later");
    return;
  }
  SessionHooks hooks;
  hooks.on_hello = [this](uint64_t sid) { pending_.erase(sid); };
  hooks.on_closed = [this](uint64_t sid) { OnClosed(sid); };
  auto session = std::make_shared<Session>(std::move(socket), id, options_.session, handler_,
                                           std::move(hooks), options_.tls);
  sessions_.emplace(id, session);
  pending_.emplace(id, session.get());
  session->Start();
}

void Server::OnClosed(uint64_t id) {
  pending_.erase(id);
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

void Server::SetTls(std::shared_ptr<const tls::Context> tls) {
  assert(options_.tls != nullptr && tls != nullptr && tls->is_server());
  options_.tls = std::move(tls);
}

void Server::CloseAll(const std::string& reason) {
  std::vector<std::shared_ptr<Session>> live;
  for (auto& [id, s] : sessions_) live.push_back(s);
  for (auto& s : live) s->Close(reason);
}

}  // namespace sluice::net
