// HOST:PORT, the one parser: sluiced's --listen, the client's and
// sluicectl's --broker. "[::1]:7400" for IPv6. The host is not resolved
// here (callers that bind check it is an IP address).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sluice::wire {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// kInvalidArgument naming `what` (e.g. "broker address") and an example when
// `text` is not HOST:PORT with a non-empty host and a port in 1..65535 (in
// 0..65535 when allow_port_zero: "pick a free port", for listening).
Result<HostPort> ParseHostPort(std::string_view text, std::string_view what,
                               bool allow_port_zero = false);

}  // namespace sluice::wire
