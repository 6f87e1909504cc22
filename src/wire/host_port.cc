#include "wire/host_port.h"

#include <charconv>

#include "wire/protocol_defaults.h"

namespace sluice::wire {

Result<HostPort> ParseHostPort(std::string_view text, std::string_view what,
                               bool allow_port_zero) {
  const size_t colon = text.rfind(':');
  std::string_view host = colon == std::string_view::npos ? "" : text.substr(0, colon);
  const std::string_view port = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  const unsigned min_port = allow_port_zero ? 0 : 1;
  if (host.empty() || port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      value < min_port || value > 65535) {
    return Status::InvalidArgument(std::string(what) + " \"" + std::string(text) +
                                   "\" is not HOST:PORT with a port in " +
                                   std::to_string(min_port) + "..65535 (e.g. " +
                                   kDefaultAddress + ")");
  }
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

}  // namespace sluice::wire
