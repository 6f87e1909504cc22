// The OpenSSL side of tls::Context, for the tls library's own .cc files only
// (it pulls in <boost/asio/ssl/context.hpp> and so OpenSSL's headers).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "tls/tls_context.h"

namespace sluice::tls {

struct Context::Impl {
  explicit Impl(boost::asio::ssl::context::method method) : ssl(method) {}
  boost::asio::ssl::context ssl;
  bool server = false;
  bool requires_client_certificate = false;
  std::string certificate_summary;
};

}  // namespace sluice::tls
