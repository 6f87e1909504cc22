// A blocking HTTP/1.1 client for the integration tests of sluiced's HTTP
// listener (broker/http_server.h): one request over a fresh loopback
// connection (Connection: close), read to EOF. Not a general client: no
// chunked bodies, no redirects; enough for /metrics, /healthz, /readyz and
// the dashboard API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::testing {

struct HttpAnswer {
  int status = 0;  // 0: no answer (refused, reset, timed out, not HTTP)
  std::string headers;  // the header lines after the status line, CRLF-separated
  std::string body;
  // The value of header `name` (any case); "" when absent.
  std::string Header(std::string_view name) const;
};

// `headers` are whole lines without CRLF ("Authorization: Bearer x"); a
// non-empty `body` gets its Content-Length. Waits at most 10 s for the answer.
HttpAnswer HttpRequest(uint16_t port, const std::string& method, const std::string& path,
                       const std::vector<std::string>& headers = {}, const std::string& body = "");

inline HttpAnswer HttpGet(uint16_t port, const std::string& path) {
  return HttpRequest(port, "GET", path);
}

}  // namespace sluice::testing
