// The body of POST /api/redrive (broker/dashboard_api.h): which dead letters
// to move back to ready.
//
//   {"id": 42}                                one dead letter
//   {"ids": [42, 43]}                         these
//   {"queue": "jobs", "tenant": "acme", "limit": 100}   matching ones (either name)
//   {"all": true, "limit": 1000}              any
//
// or the same fields as a form body (Content-Type
// application/x-www-form-urlencoded): id=42, ids=42,43, queue=jobs, all=true.
// Ids and names together select the ids that also match the names. Unknown
// fields are refused (a misspelt filter must not redrive everything), and so
// is a body that selects nothing: ids, a name, or all=true. `limit` is
// 1..core::Engine::kMaxDeadPage, default the most: one request moves at most
// that many, lowest ids first.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"
#include "core/engine_types.h"

namespace sluice::broker {

struct RedriveRequest {
  core::DeadFilter filter;  // ids and/or queue, tenant
  size_t limit = 0;
};

// kInvalidArgument saying what is wrong and what the body may hold.
Result<RedriveRequest> ParseRedriveRequest(std::string_view content_type, std::string_view body);

}  // namespace sluice::broker
