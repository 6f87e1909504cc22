#include "integration/http_request.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "integration/broker_process.h"

namespace sluice::testing {

HttpAnswer HttpRequest(uint16_t port, const std::string& method, const std::string& path,
                       const std::vector<std::string>& headers, const std::string& body) {
  HttpAnswer answer;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return answer;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  if (!body.empty()) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return answer;
  }
  std::string raw;
  char buf[16384];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return answer;
  answer.status = std::stoi(raw.substr(9, 3));
  const size_t start = raw.find("\r\n\r\n");
  if (start != std::string::npos) answer.body = raw.substr(start + 4);
  return answer;
}

}  // namespace sluice::testing
