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

  // One HTTP connection: read a request, answer it (at once, or later from a
  // route's Responder), again while keep-alive.
  class Conn : public std::enable_shared_from_this<Conn> {
   public:
    Conn(Impl* owner, uint64_t id, tcp::socket socket)
        : owner_(owner), alive_(owner->alive), id_(id), stream_(std::move(socket)) {
      boost::system::error_code ec;
      const auto ep = stream_.socket().remote_endpoint(ec);
      peer_ = ec ? std::string("unknown")
                 : ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    // Only a responder dropped without an answer ends a connection here:
    // give its slot back (unless the server is gone).
    ~Conn() {
      if (!finished_ && !alive_.expired()) owner_->OnClosed(id_);
    }

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
      ++seq_;
      answered_ = false;
      if (ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted ||
            ec == beast::error::timeout || ec == asio::error::eof) {
          Finish();
          return;
        }
        // A malformed or oversized request: answer once, then close.
        version_ = 11;
        keep_alive_ = false;
        head_ = false;
        Response res;
        res.content_type = "text/plain; charset=utf-8";
        if (ec == http::error::body_limit) {
          res.status = 413;
          res.body = "request body too large: at most " + std::to_string(kMaxRequestBytes) +
                     " bytes\n";
        } else if (ec == http::error::header_limit) {
          res.status = 431;
          res.body = "request header too large: at most " + std::to_string(kMaxRequestBytes) +
                     " bytes\n";
        } else {
          res.status = 400;
          res.body = "bad request: " + ec.message() + "\n";
        }
        Answer(seq_, std::move(res));
        return;
      }
      request_ = parser_->release();
      version_ = request_.version();
      keep_alive_ = request_.keep_alive();
      head_ = request_.method() == http::verb::head;
      Dispatch();
    }

    // Answers request_ at once (the built-in paths, 404, 405) or hands it to
    // the route that matches its path.
    void Dispatch() {
      const Routes& routes = owner_->routes;
      const std::string_view target = View(request_.target());
      const std::string_view path = target.substr(0, target.find('?'));
      const bool get = request_.method() == http::verb::get || head_;
      Response res;
      res.content_type = "text/plain; charset=utf-8";
      const bool builtin = path == "/metrics" || path == "/healthz" || path == "/readyz";
      if (builtin && !get) {
        res.status = 405;
        res.headers.emplace_back("Allow", "GET, HEAD");
        res.body = "method not allowed: use GET\n";
      } else if (path == "/metrics" && !routes.metrics) {
        res.status = 503;
        res.body = "starting: metrics are served once the store is open\n";
      } else if (path == "/metrics") {
        res.content_type = kMetricsType;
        res.body = routes.metrics();
      } else if (path == "/healthz") {
        res.body = "ok\n";
      } else if (path == "/readyz") {
        const Readiness r = routes.ready ? routes.ready() : Readiness{false, "starting"};
        res.status = r.ready ? 200 : 503;
        res.body = r.ready ? std::string("ready\n") : "not ready: " + r.reason + "\n";
      } else if (const Route* route = FindRoute(routes, path)) {
        Request req;
        req.method = get ? std::string_view("GET") : View(request_.method_string());
        req.path = path;
        req.query = path.size() < target.size() ? target.substr(path.size() + 1) : "";
        req.authorization = Field(http::field::authorization);
        req.content_type = Field(http::field::content_type);
        req.origin = Field(http::field::origin);
        req.host = Field(http::field::host);
        req.body = request_.body();
        req.peer = peer_;
        // The handler may answer before it returns, or keep the responder.
        route->handler(req, [self = shared_from_this(), seq = seq_](Response r) {
          self->Answer(seq, std::move(r));
        });
        return;
      } else {
        res.status = 404;
        res.body = "not found: try /metrics, /healthz, /readyz";
        for (const Route& r : routes.routes) res.body += ", " + r.path;
        res.body += "\n";
      }
      Answer(seq_, std::move(res));
    }

    static const Route* FindRoute(const Routes& routes, std::string_view path) {
      for (const Route& r : routes.routes) {
        if (r.prefix ? path.starts_with(r.path) : path == r.path) return &r;
      }
      return nullptr;
    }

    static std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }
    std::string_view Field(http::field f) const {
      const auto it = request_.find(f);
      return it == request_.end() ? std::string_view() : View(it->value());
    }

    // The answer to request number `seq`; ignored unless that request is
    // still waiting for it and the server still runs.
    void Answer(uint64_t seq, Response r) {
      if (seq != seq_ || answered_ || finished_ || alive_.expired() || owner_->stopped) return;
      answered_ = true;
      auto res = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(r.status), version_);
      res->keep_alive(keep_alive_);
      res->set(http::field::server, "sluiced");
      res->set(http::field::content_type, r.content_type);
      for (const auto& [name, value] : r.headers) res->set(name, value);
      res->body() = std::move(r.body);
      res->prepare_payload();
      if (head_) {
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
    std::weak_ptr<char> alive_;  // expires with the Impl
    const uint64_t id_;
    std::string peer_;  // "ADDRESS:PORT", for the audit log
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::request<http::string_body> request_;  // the one being answered
    uint64_t seq_ = 0;       // requests read (or failed) on this connection
    bool answered_ = false;  // request seq_ has its answer
    unsigned version_ = 11;
    bool keep_alive_ = false;
    bool head_ = false;
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
  // Connections hold a weak_ptr to it: a late answer (or a connection
  // destroyed after the server) does not touch a destroyed Impl.
  std::shared_ptr<char> alive = std::make_shared<char>();
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
