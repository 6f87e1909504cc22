// DashboardApi: the dashboard page and its JSON API on the HTTP listener
// (issue 18; docs/observability.md, "Dashboard").
//
//   GET  /  and  /dashboard   the page: broker/dashboard/index.html, embedded
//                             at build time (broker/dashboard_page.h); no auth
//                             (it holds no data; it asks the API)
//   GET  /api/overview        broker, queues and tenants (dashboard_json.h)
//   GET  /api/dead            a page of dead letters: ?queue=Q&tenant=T
//                             &after=ID&limit=N (limit 1..kMaxDeadLimit, default
//                             kDefaultDeadLimit); "next_after" is the cursor
//   GET  /api/task?id=ID      one task (live or dead) and its attempt history
//   POST /api/redrive         dead letters back to ready: a JSON object or a
//                             form body with id, ids, queue, tenant, limit,
//                             all (below); answered once the move is durable
//                             (and its audit line, with [audit] log)
//
// Auth: every /api/* request goes through DashboardOptions::authorize
// (http_auth.h) with the bearer token of its Authorization header: reads ask
// kRead, redrive kAdmin. 401 (or 403) with a JSON error when refused.
//
// Errors are JSON {"error": "..."} saying what to do: 400 a bad parameter or
// body, 403 a cross-origin POST (Origin not this Host: a page elsewhere cannot
// make the browser redrive), 404 an unknown /api path or task, 405 a wrong
// method (with Allow), 409/503/500 from the engine (code_to_http below).
//
// Cost: the overview is O(queues + tenants) (Engine::Stats, ListTenants);
// a dead page reads at most `limit` dead records, and a filtered one scans
// the dead letters before the cursor that do not match (Engine::ListDead); a
// task is one record read. All on the loop thread, like a native request.
//
// Threading: the loop thread. The engine must outlive the routes.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "broker/http_auth.h"
#include "broker/http_server.h"
#include "common/clock.h"

namespace sluice::core {
class Engine;
}  // namespace sluice::core

namespace sluice::broker {

class AuditTrail;

struct DashboardOptions {
  core::Engine* engine = nullptr;
  const Clock* clock = nullptr;                  // the engine's
  HttpAuthorizer authorize;                      // required
  bool auth = false;                             // told to the page: /api/* needs a token
  std::function<HttpServer::Readiness()> ready;  // required
  std::string version;
  TimeMs started_ms = 0;
  // The audit log; null = off. With it, POST /api/redrive (allowed or
  // refused) is a "dlq_redrive" line via "http", and its answer waits for
  // the line (broker/audit_trail.h); it is refused (503) while the log
  // cannot be written.
  AuditTrail* audit = nullptr;
};

class DashboardApi {
 public:
  static constexpr size_t kDefaultDeadLimit = 50;
  static constexpr size_t kMaxDeadLimit = 500;

  explicit DashboardApi(DashboardOptions options);

  // The page and /api/*, for HttpServer::Routes::routes. This object must
  // outlive them.
  std::vector<HttpServer::Route> Routes();
  // While the store opens (no engine yet): the page, and 503 "starting" for
  // every /api/* request.
  static std::vector<HttpServer::Route> StartingRoutes();

 private:
  void HandleApi(const HttpServer::Request& req, const HttpServer::Responder& respond);
  void Overview(const HttpServer::Responder& respond);
  void Dead(const HttpServer::Request& req, const HttpServer::Responder& respond);
  void Task(const HttpServer::Request& req, const HttpServer::Responder& respond);
  void Redrive(const HttpServer::Request& req, const HttpServer::Responder& respond,
               const std::string& who);

  DashboardOptions options_;
};

}  // namespace sluice::broker
