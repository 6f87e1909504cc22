// ConnectClient: the client library connected to a BrokerProcess with a
// token, for the integration tests of credentials (auth_test,
// config_auth_test, audit_log_test).
#pragma once

#include <memory>
#include <string>

#include "client/client.h"
#include "integration/broker_process.h"

namespace sluice::testing {

// nullptr when the connection or its Hello fails; `why` (may be null) then
// gets the reason.
inline std::unique_ptr<client::Client> ConnectClient(const BrokerProcess& broker,
                                                     const std::string& token,
                                                     Status* why = nullptr) {
  client::ClientOptions o;
  o.host = broker.host();
  o.port = broker.port();
  o.client_name = "integration-test";
  o.token = token;
  auto c = client::Client::Connect(o);
  if (!c.ok()) {
    if (why != nullptr) *why = c.status();
    return nullptr;
  }
  return std::move(*c);
}

}  // namespace sluice::testing
