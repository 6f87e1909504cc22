#include "broker/dashboard_api.h"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/dashboard_json.h"
#include "broker/dashboard_page.h"
#include "broker/audit_trail.h"
#include "broker/redrive_request.h"
#include "broker/url_query.h"
#include "core/engine.h"

namespace sluice::broker {
namespace {

using Request = HttpServer::Request;
using Responder = HttpServer::Responder;
using Response = HttpServer::Response;

constexpr std::string_view kApiPrefix = "/api/";
constexpr uint64_t kMaxId = UINT64_MAX;

Response Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  r.headers = {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
  return r;
}

Response Error(int status, std::string_view message) { return Json(status, ErrorJson(message)); }

// The HTTP status of an engine or request error.
int HttpStatusOf(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kNotFound:
      return 404;
    case Code::kFailedPrecondition:
    case Code::kAlreadyExists:
      return 409;
    case Code::kUnavailable:
    case Code::kStorage:
    case Code::kNoSpace:
    case Code::kResourceExhausted:
      return 503;
    default:
      return 500;
  }
}

Response Error(const Status& st) { return Error(HttpStatusOf(st.code()), st.message()); }

Response Page() {
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string(DashboardPage());
  // Everything the page needs is inline; it talks only to this origin.
  r.headers = {{"Cache-Control", "no-store"},
               {"X-Content-Type-Options", "nosniff"},
               {"X-Frame-Options", "DENY"},
               {"Referrer-Policy", "no-referrer"},
               {"Content-Security-Policy",
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                "frame-ancestors 'none'"}};
  return r;
}

// The page's routes, answered alike while starting and after.
void AddPageRoutes(std::vector<HttpServer::Route>* routes) {
  for (const char* path : {"/", "/dashboard"}) {
    routes->push_back({path, false, [](const Request& req, const Responder& respond) {
                         if (req.method != "GET") {
                           Response r = Error(405, "method not allowed: the page takes GET");
                           r.headers.emplace_back("Allow", "GET, HEAD");
                           respond(std::move(r));
                           return;
                         }
                         respond(Page());
                       }});
  }
}

// The query of `req`, with only `allowed` keys; a 400 answer otherwise.
Result<QueryParams> Params(const Request& req, std::initializer_list<std::string_view> allowed) {
  auto params = QueryParams::Parse(req.query);
  if (!params.ok()) return params.status();
  for (const auto& [key, value] : params->pairs()) {
    bool known = false;
    std::string names;
    for (std::string_view a : allowed) {
      known = known || key == a;
      names += names.empty() ? "" : ", ";
      names += a;
    }
    if (!known) {
      return Status::InvalidArgument("unknown parameter \"" + key + "\": " + std::string(req.path) +
                                     " takes " + (names.empty() ? std::string("none") : names));
    }
  }
  return params;
}

// The parameter `key` as an integer in [min, max]; `absent` when not given.
Result<uint64_t> UintParam(const QueryParams& params, std::string_view key, uint64_t absent,
                           uint64_t min, uint64_t max) {
  const std::string* text = params.Find(key);
  return text == nullptr ? Result<uint64_t>(absent) : ParseBoundedUint(key, *text, min, max);
}

// A POST from another origin is refused: with auth off, a page elsewhere
// could otherwise make a visitor's browser redrive (a form POST needs no
// CORS preflight). Browsers send Origin with every POST.
bool SameOrigin(const Request& req) {
  if (req.origin.empty()) return true;
  const std::string host(req.host);
  return req.origin == "http://" + host || req.origin == "https://" + host;
}

// The start of a POST /api/redrive line: who, from where, what.
AuditRecord RedriveRecord(const Request& req, const std::string& who) {
  AuditRecord r;
  r.actor = who;
  r.peer = std::string(req.peer);
  r.via = "http";
  r.op = "dlq_redrive";
  return r;
}

// The selection of a parsed redrive, as a native DlqRedrive's line has it.
void DescribeRedrive(const RedriveRequest& parsed, AuditRecord* r) {
  r->task_ids = parsed.filter.ids;
  r->queue = parsed.filter.queue;
  r->tenant = parsed.filter.tenant;
  if (parsed.limit != 0) r->params.emplace_back("limit", static_cast<int64_t>(parsed.limit));
}

}  // namespace

DashboardApi::DashboardApi(DashboardOptions options) : options_(std::move(options)) {}

std::vector<HttpServer::Route> DashboardApi::Routes() {
  std::vector<HttpServer::Route> routes;
  AddPageRoutes(&routes);
  routes.push_back(
      {std::string(kApiPrefix), true,
       [this](const Request& req, const Responder& respond) { HandleApi(req, respond); }});
  return routes;
}

std::vector<HttpServer::Route> DashboardApi::StartingRoutes() {
  std::vector<HttpServer::Route> routes;
  AddPageRoutes(&routes);
  routes.push_back({std::string(kApiPrefix), true, [](const Request&, const Responder& respond) {
                      respond(Error(503,
                                    "starting: the broker is opening its store; retry in "
                                    "a moment"));
                    }});
  return routes;
}

void DashboardApi::HandleApi(const Request& req, const Responder& respond) {
  struct Endpoint {
    std::string_view path;
    std::string_view method;
    HttpAccess access;
  };
  static constexpr Endpoint kEndpoints[] = {
      {"/api/overview", "GET", HttpAccess::kRead},
      {"/api/dead", "GET", HttpAccess::kRead},
      {"/api/task", "GET", HttpAccess::kRead},
      {"/api/redrive", "POST", HttpAccess::kAdmin},
  };
  const Endpoint* endpoint = nullptr;
  for (const Endpoint& e : kEndpoints) {
    if (req.path == e.path) endpoint = &e;
  }
  if (endpoint == nullptr) {
    respond(Error(404,
                  "no such API path: try /api/overview, /api/dead, /api/task?id=ID or "
                  "POST /api/redrive"));
    return;
  }
  if (req.method != endpoint->method) {
    Response r = Error(405, "method not allowed: " + std::string(req.path) + " takes " +
                                std::string(endpoint->method));
    r.headers.emplace_back("Allow", endpoint->method == "GET" ? "GET, HEAD" : "POST");
    respond(std::move(r));
    return;
  }
  std::string who = "unauthenticated";
  Status allowed = options_.authorize(BearerToken(req.authorization), endpoint->access, &who);
  if (!allowed.ok()) {
    auto refuse = [respond, allowed] {
      Response r = Error(allowed.code() == Code::kUnauthenticated ? 401 : 403, allowed.message());
      if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"sluice\"");
      respond(std::move(r));
    };
    if (endpoint->access == HttpAccess::kAdmin && options_.audit != nullptr) {
      // A refused attempt at an admin operation is a line too; the refusal
      // goes out whether or not the line could be written.
      AuditRecord record = RedriveRecord(req, who);
      record.outcome = allowed;
      options_.audit->Write(options_.audit->Stamp(std::move(record)),
                            [refuse](const Status&) { refuse(); });
      return;
    }
    refuse();
    return;
  }
  if (endpoint->path == "/api/overview") {
    Overview(respond);
  } else if (endpoint->path == "/api/dead") {
    Dead(req, respond);
  } else if (endpoint->path == "/api/task") {
    Task(req, respond);
  } else {
    Redrive(req, respond, who);
  }
}

void DashboardApi::Overview(const Responder& respond) {
  const HttpServer::Readiness readiness = options_.ready();
  BrokerInfo info;
  info.version = options_.version;
  info.started_ms = options_.started_ms;
  info.now_ms = options_.clock->NowMs();
  info.ready = readiness.ready;
  info.not_ready_reason = readiness.reason;
  info.auth = options_.auth;
  respond(Json(200, OverviewJson(info, options_.engine->Stats(), options_.engine->ListTenants())));
}

void DashboardApi::Dead(const Request& req, const Responder& respond) {
  auto params = Params(req, {"queue", "tenant", "after", "limit"});
  if (!params.ok()) {
    respond(Error(params.status()));
    return;
  }
  core::DeadFilter filter;
  if (const std::string* q = params->Find("queue")) filter.queue = *q;
  if (const std::string* t = params->Find("tenant")) filter.tenant = *t;
  const auto after = UintParam(*params, "after", 0, 0, kMaxId);
  const auto limit = UintParam(*params, "limit", kDefaultDeadLimit, 1, kMaxDeadLimit);
  for (const Status& st : {after.status(), limit.status()}) {
    if (!st.ok()) {
      respond(Error(st));
      return;
    }
  }
  auto page = options_.engine->ListDead(filter, *after, *limit);
  if (!page.ok()) {
    respond(Error(page.status()));
    return;
  }
  respond(Json(200, DeadPageJson(*page, *limit)));
}

void DashboardApi::Task(const Request& req, const Responder& respond) {
  auto params = Params(req, {"id"});
  if (!params.ok()) {
    respond(Error(params.status()));
    return;
  }
  const std::string* text = params->Find("id");
  if (text == nullptr) {
    respond(Error(400, "give the task's id: /api/task?id=ID"));
    return;
  }
  auto id = ParseBoundedUint("id", *text, 1, kMaxId);
  if (!id.ok()) {
    respond(Error(id.status()));
    return;
  }
  auto view = options_.engine->ShowTask(*id);
  if (!view.ok()) {
    respond(Error(view.status()));
    return;
  }
  respond(Json(200, TaskJson(*view)));
}

void DashboardApi::Redrive(const Request& req, const Responder& respond, const std::string& who) {
  if (!SameOrigin(req)) {
    respond(Error(403,
                  "cross-origin request refused: POST from the dashboard this broker "
                  "serves, or from a client that sends no Origin header"));
    return;
  }
  AuditTrail* audit = options_.audit;
  auto parsed = ParseRedriveRequest(req.content_type, req.body);
  if (audit != nullptr && (!parsed.ok() || !audit->healthy())) {
    // Recorded like a refusal: nothing was done.
    const Status outcome = parsed.ok() ? audit->Unwritable() : parsed.status();
    AuditRecord record = audit->Stamp(RedriveRecord(req, who));
    record.outcome = outcome;
    audit->Write(record, [respond, outcome](const Status&) { respond(Error(outcome)); });
    return;
  }
  if (!parsed.ok()) {
    respond(Error(parsed.status()));
    return;
  }
  AuditRecord record;
  if (audit != nullptr) {
    record = audit->Stamp(RedriveRecord(req, who));
    DescribeRedrive(*parsed, &record);
  }
  // Answered once the engine reports the move durable (and, with the audit
  // log, its line synced); the connection may have closed by then (the
  // server drops the answer).
  options_.engine->Redrive(
      parsed->filter, parsed->limit,
      [respond, audit, record = std::move(record)](Result<uint64_t> moved) mutable {
        if (!moved.ok()) spdlog::warn("http redrive: {}", moved.status().ToString());
        Response answer = moved.ok() ? Json(200, RedrivenJson(*moved)) : Error(moved.status());
        if (audit == nullptr) {
          respond(std::move(answer));
          return;
        }
        record.outcome = moved.status();
        if (moved.ok()) record.result.emplace_back("count", static_cast<int64_t>(*moved));
        audit->Write(record, [respond, answer = std::move(answer),
                              performed = moved.ok()](const Status& written) mutable {
          if (written.ok() || !performed) {
            respond(std::move(answer));
            return;
          }
          respond(Error(503, "the redrive was performed, but its audit line could not be "
                             "written: " + written.message() +
                             "; admin operations are refused until the log works again"));
        });
      });
}

}  // namespace sluice::broker
