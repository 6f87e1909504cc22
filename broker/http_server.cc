// The one translation unit that compiles Boost.Beast (see http_server.h).
#include "broker/http_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <optional>
#include <string_view>

namespace sluice::broker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

struct HttpServer::Impl {
  explicit Impl(asio::io_context& io_in) : io(io_in), acceptor(io_in) {}

  // One HTTP connection: read a request, answer it, again while keep-alive.
  class Conn : public std::enable_shared_from_this<Conn> {
   public:
    Conn(Impl* owner, uint64_t id, tcp::socket socket)
        : owner_(owner), id_(id), stream_(std::move(socket)) {}

    void Start() { Read(); }
    void Close() {
      boost::system::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.close();
    }

   private:
    void Read() {
      parser_.emplace();
      parser_->header_limit(static_cast<uint32_t>(kMaxRequestBytes));
      parser_->body_limit(kMaxRequestBytes);
      stream_.expires_after(std::chrono::seconds(kTimeoutSeconds));
      http::async_read(stream_, buffer_, *parser_,
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         self->OnRead(ec);
                       });
    }

    void OnRead(beast::error_code ec) {
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
            ec != beast::error::timeout && ec != asio::error::eof) {
          // A malformed or oversized request: answer 400 once, then close.
          auto res = std::make_shared<http::response<http::string_body>>(http::status::bad_request,
                                                                         11);
          res->set(http::field::content_type, "text/plain");
          res->body() = "bad request: " + ec.message() + "\n";
          res->keep_alive(false);
          res->prepare_payload();
          Write(std::move(res));
          return;
        }
        Finish();
        return;
      }
      auto req = parser_->release();
      auto res = std::make_shared<http::response<http::string_body>>();
      res->version(req.version());
      res->keep_alive(req.keep_alive());
      res->set(http::field::server, "sluiced");
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      const std::string_view target(req.target().data(), req.target().size());
      const std::string_view path = target.substr(0, target.find('?'));
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res->result(http::status::method_not_allowed);
        res->set(http::field::allow, "GET, HEAD");
        res->body() = "method not allowed: use GET\n";
      } else if (path == "/metrics" && !owner_->routes.metrics) {
        res->result(http::status::service_unavailable);
        res->body() = "starting: metrics are served once the store is open\n";
      } else if (path == "/metrics") {
        res->result(http::status::ok);
        res->set(http::field::content_type, kMetricsType);
        res->body() = owner_->routes.metrics();
      } else if (path == "/healthz") {
        res->result(http::status::ok);
        res->body() = "ok\n";
      } else if (path == "/readyz") {
        const Readiness r = owner_->routes.ready ? owner_->routes.ready()
                                                 : Readiness{false, "starting"};
        res->result(r.ready ? http::status::ok : http::status::service_unavailable);
        res->body() = r.ready ? std::string("ready\n") : "not ready: " + r.reason + "\n";
      } else {
        res->result(http::status::not_found);
        res->body() = "not found: try /metrics, /healthz or /readyz\n";
      }
      res->prepare_payload();
      if (req.method() == http::verb::head) {
        // The length of the GET answer, without its body.
        const auto length = res->body().size();
        res->body().clear();
        res->content_length(length);
      }
      Write(std::move(res));
    }

    void Write(std::shared_ptr<http::response<http::string_body>> res) {
      stream_.expires_after(std::chrono::seconds(kTimeoutSeconds));
      http::async_write(stream_, *res,
                        [self = shared_from_this(), res](beast::error_code ec, size_t) {
                          if (ec || !res->keep_alive()) {
                            self->Close();
                            self->Finish();
                            return;
                          }
                          self->Read();
                        });
    }

    void Finish() {
      if (finished_) return;
      finished_ = true;
      owner_->OnClosed(id_);
    }

    Impl* owner_;
    const uint64_t id_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    bool finished_ = false;
  };

  void DoAccept() {
    if (stopped || accepting || conns.size() >= kMaxConnections) return;
    accepting = true;
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      accepting = false;
      if (stopped) return;
      if (!ec) {
        const uint64_t id = next_id++;
        auto conn = std::make_shared<Conn>(this, id, std::move(socket));
        conns.emplace(id, conn);
        conn->Start();
      } else if (ec != asio::error::operation_aborted) {
        spdlog::warn("http: accept failed: {}", ec.message());
      }
      DoAccept();
    });
  }

  void OnClosed(uint64_t id) {
    conns.erase(id);
    DoAccept();  // a slot is free again
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  Routes routes;
  std::string address;
  uint16_t port = 0;
  bool accepting = false;
  bool stopped = false;
  uint64_t next_id = 1;
  std::map<uint64_t, std::weak_ptr<Conn>> conns;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Listen(asio::io_context& io,
                                                       const std::string& host, uint16_t port) {
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("http listen address " + where + ": " + ec.message());
  auto impl = std::make_unique<Impl>(io);
  const tcp::endpoint endpoint(address, port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen for HTTP on " + where + ": " + ec.message() +
                               " (set [http] listen to a free address, or \"\" for no HTTP)");
  }
  const auto bound = impl->acceptor.local_endpoint(ec);
  if (ec) return Status::Unavailable("http: cannot read the bound address: " + ec.message());
  impl->port = bound.port();
  impl->address = bound.address().to_string() + ":" + std::to_string(impl->port);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Start(Routes routes) {
  impl_->routes = std::move(routes);
  impl_->DoAccept();
}

void HttpServer::SetRoutes(Routes routes) { impl_->routes = std::move(routes); }

void HttpServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  // Close() makes each connection's pending operation fail; its handler then
  // erases it (OnClosed). Copy first: the map changes under the handlers.
  std::vector<std::shared_ptr<Impl::Conn>> open;
  for (auto& [id, weak] : impl_->conns) {
    if (auto c = weak.lock()) open.push_back(std::move(c));
  }
  for (auto& c : open) c->Close();
}

const std::string& HttpServer::address() const { return impl_->address; }
uint16_t HttpServer::port() const { return impl_->port; }

}  // namespace sluice::broker
