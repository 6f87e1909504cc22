#include "command.h"

#include <string>

#include "common/text.h"

namespace sluice::ctl {

int FailRequest(const GlobalOptions& global, std::string_view command, const Status& status,
                std::ostream& err) {
  err << "sluicectl: " << command << ": " << status.ToString();
  switch (status.code()) {
    case Code::kUnavailable:
      if (status.message().find("TLS handshake") != std::string::npos) {
        err << " - check --tls, --ca, --cert and --key against the broker's [tls] settings";
      } else {
        err << " - is sluiced running at " << global.broker << "? use --broker HOST:PORT";
      }
      break;
    case Code::kUnauthenticated:
      err << " - pass the broker's auth token with --token";
      break;
    case Code::kPermissionDenied:
      err << " - the token's credential does not allow this (sluicectl auth list shows roles, "
             "tenant and queues)";
      break;
    case Code::kStaleLease:
      err << " - the lease expired or was superseded, or the task is a dead letter now; drop "
             "this attempt's work (lease the task again if it is ready)";
      break;
    case Code::kProtocol:
      // The client library says so when the peer's answer to hello is not sluice.
      if (status.message().find("speaks TLS") != std::string::npos) {
        err << " - add --tls and --ca FILE (the CA that signed the broker's certificate)";
      } else if (status.message().find("not a sluice broker") != std::string::npos) {
        err << " - is " << global.broker << " the address of sluiced? use --broker HOST:PORT";
      } else {
        err << " - sluicectl and sluiced may be different versions";
      }
      break;
    default:
      break;
  }
  err << '\n';
  return kExitRequestError;
}

int Context::Fail(const Status& status) const { return FailRequest(global, command, status, err); }

int Context::UsageError(std::string_view message) const {
  err << "sluicectl: " << message << '\n';
  return kExitUsageError;
}

int OfflineContext::Fail(const Status& status) const {
  err << "sluicectl: " << command << " (offline, --data-dir " << global.data_dir
      << "): " << status.ToString() << '\n';
  return kExitRequestError;
}

std::string CheckNames(std::string_view command, std::initializer_list<SentName> names) {
  for (const SentName& n : names) {
    if (n.optional && n.name.empty()) continue;
    if (Status st = CheckName(n.kind, n.name); !st.ok()) {
      return std::string(command) + ": " + st.message();
    }
  }
  return {};
}

}  // namespace sluice::ctl
