#include "network_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "client/client.h"
#include "dlq_filter.h"
#include "json_writer.h"
#include "render.h"
#include "wire/host_port.h"
#include "wire/protocol_defaults.h"

namespace sluice::ctl {

namespace {

using client::Client;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kMaxRedriveChunk = 500;
// The most dead letters the broker redrives or purges per request
// (docs/protocol.md section 8); more are sent as several requests.
constexpr uint32_t kDlqPerRequest = 10'000;

// Prints a request error with what to do next; returns kExitRequestError.
int Fail(const CommandLine& cl, const Status& status, std::ostream& err) {
  err << "sluicectl: " << CommandName(cl.command) << ": " << status.ToString();
  switch (status.code()) {
    case Code::kUnavailable:
      err << " - is sluiced running at " << cl.global.broker << "? use --broker HOST:PORT";
      break;
    case Code::kUnauthenticated:
      err << " - pass the broker's auth token with --token";
      break;
    case Code::kStaleLease:
      err << " - the lease expired or the task was already acked; lease the task again";
      break;
    case Code::kProtocol:
      // The client library says so when the peer's answer to hello is not sluice.
      if (status.message().find("not a sluice broker") != std::string::npos) {
        err << " - is " << cl.global.broker << " the address of sluiced? use --broker HOST:PORT";
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

int UsageError(const std::string& message, std::ostream& err) {
  err << "sluicectl: " << message << '\n';
  return kExitUsageError;
}

std::string DefaultWorkerName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "sluicectl";
  return std::string("sluicectl@") + host;
}

// ------------------------------------------------------------- producer/worker

// The bytes of --payload-file `path` ("-" = stdin). An error names the path
// and why (missing, unreadable, a directory), so nothing is enqueued.
Result<std::string> ReadPayloadFile(const std::string& path) {
  if (path == "-") {
    std::ostringstream bytes;
    bytes << std::cin.rdbuf();
    return std::move(bytes).str();
  }
  const auto fail = [&path](const std::string& why) {
    return Status::InvalidArgument("enqueue: cannot read --payload-file " + path + ": " + why);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail("it is a directory; give a file, or - for stdin");
  }
  std::string bytes;
  char buf[64 << 10];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      bytes.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const int error = errno;
      ::close(fd);
      return fail(std::strerror(error));
    }
  }
  ::close(fd);
  return bytes;
}

// `payload`: --payload, or the --payload-file bytes read before connecting.
int Enqueue(Client& c, const CommandLine& cl, std::string payload, std::ostream& out,
            std::ostream& err) {
  const EnqueueArgs& a = cl.enqueue;
  client::TaskSpec spec;
  spec.queue = a.queue;
  spec.tenant = a.tenant;
  if (a.priority) spec.priority = static_cast<uint8_t>(*a.priority);
  spec.delay_ms = a.delay_ms;
  spec.ttl_ms = a.ttl_ms;
  spec.max_attempts = a.max_attempts;
  spec.idempotency_key = a.idempotency_key;
  spec.payload = std::move(payload);
  for (const auto& h : a.headers) {
    const size_t eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      return UsageError("enqueue: --header wants KEY=VALUE, got \"" + h + "\"", err);
    }
    spec.headers.push_back({h.substr(0, eq), h.substr(eq + 1)});
  }
  auto result = c.Enqueue(spec);
  if (!result.ok()) return Fail(cl, result.status(), err);
  RenderEnqueue(*result, cl.global.json, out);
  return kExitOk;
}

int Lease(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const LeaseArgs& a = cl.lease;
  const std::string worker = a.worker.empty() ? DefaultWorkerName() : a.worker;
  auto tasks = c.Lease(a.queue, a.count, a.wait_ms, a.lease_ms, worker);
  if (!tasks.ok()) return Fail(cl, tasks.status(), err);
  RenderLeased(*tasks, cl.global.json, out);
  return kExitOk;
}

int Ack(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  std::vector<client::LeaseToken> tokens;
  for (const auto& text : cl.ack_tokens) {
    auto token = client::LeaseToken::Parse(text);
    if (!token.ok()) return UsageError("ack: " + token.status().message(), err);
    tokens.push_back(*token);
  }
  auto statuses = c.Ack(tokens);
  if (!statuses.ok()) return Fail(cl, statuses.status(), err);
  size_t acked = 0;
  for (size_t i = 0; i < tokens.size() && i < statuses->size(); ++i) {
    if ((*statuses)[i].ok()) {
      ++acked;
    } else {
      err << "sluicectl: ack " << cl.ack_tokens[i] << ": " << (*statuses)[i].ToString() << '\n';
    }
  }
  if (cl.global.json) {
    JsonWriter w;
    w.BeginObject().Key("acked").Uint(acked).Key("results").BeginArray();
    for (size_t i = 0; i < tokens.size() && i < statuses->size(); ++i) {
      const Status& s = (*statuses)[i];
      w.BeginObject().Key("token").String(cl.ack_tokens[i]).Key("ok").Bool(s.ok());
      if (!s.ok()) {
        w.Key("code").String(CodeName(s.code())).Key("error").String(s.message());
      }
      w.EndObject();
    }
    w.EndArray().EndObject();
    PrintJson(out, w);
  } else {
    out << "acked " << acked << " of " << tokens.size() << '\n';
  }
  return acked == tokens.size() ? kExitOk : kExitRequestError;
}

int Nack(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const NackArgs& a = cl.nack;
  auto token = client::LeaseToken::Parse(a.token);
  if (!token.ok()) return UsageError("nack: " + token.status().message(), err);
  auto result = c.Nack(*token, a.error, a.fatal, a.delay_ms);
  if (!result.ok()) return Fail(cl, result.status(), err);
  if (cl.global.json) {
    JsonWriter w;
    w.BeginObject()
        .Key("token").String(a.token)
        .Key("dead").Bool(result->dead)
        .Key("next_attempt_ms").Uint(result->next_attempt_ms)
        .EndObject();
    PrintJson(out, w);
  } else if (result->dead) {
    out << "task " << token->task_id << " moved to the dead letters (see: sluicectl dlq show "
        << token->task_id << ")\n";
  } else {
    out << "task " << token->task_id << " will be retried at "
        << FormatTime(result->next_attempt_ms) << '\n';
  }
  return kExitOk;
}

// ------------------------------------------------------------- admin

int Stats(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err,
          bool with_totals) {
  auto stats = c.Stats(cl.queue_name);
  if (!stats.ok()) return Fail(cl, stats.status(), err);
  if (!with_totals) {
    RenderQueues(stats->queues, stats->tenants, /*offline=*/false, cl.global.json, out);
    return kExitOk;
  }
  RenderStats(*stats, c.server_info(), cl.global.broker, cl.global.json, out);
  return kExitOk;
}

int TaskShow(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  auto task = cl.command == Command::kDlqShow ? c.DlqShow(cl.task_id) : c.TaskShow(cl.task_id);
  if (!task.ok()) {
    if (task.status().code() == Code::kNotFound) {
      err << "sluicectl: " << CommandName(cl.command) << ": task " << cl.task_id
          << " not found (acked and purged tasks are deleted with their history)\n";
      return kExitRequestError;
    }
    return Fail(cl, task.status(), err);
  }
  RenderTask(*task, cl.global.json, out);
  return kExitOk;
}

int DlqList(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const uint32_t limit = cl.dlq.limit == 0 ? wire::kDefaultDlqPage : cl.dlq.limit;
  auto page = c.DlqList(ToClientFilter(cl.dlq.filter), cl.dlq.after, limit);
  if (!page.ok()) return Fail(cl, page.status(), err);
  RenderDlqPage(*page, cl.global.json, out);
  return kExitOk;
}

client::DlqSelection Selection(const DlqArgs& a) {
  client::DlqSelection sel;
  sel.ids = a.ids;
  sel.filter = ToClientFilter(a.filter);
  sel.limit = a.limit;
  sel.all = a.all;
  return sel;
}

void PrintCount(const char* verb, uint64_t count, bool json, std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key(verb).Uint(count).EndObject();
    PrintJson(out, w);
  } else {
    out << verb << ' ' << count << " dead letter" << (count == 1 ? "" : "s") << '\n';
  }
}

// Redrive paced at `rate` tasks per second: picks the next chunk of matching
// dead letters (explicit ids, or a DlqList page), redrives exactly those ids,
// then sleeps until the running total is back under rate * elapsed.
int PacedRedrive(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const DlqArgs& a = cl.dlq;
  const auto chunk = static_cast<uint32_t>(
      std::clamp<double>(std::ceil(a.rate / 10.0), 1.0, kMaxRedriveChunk));
  const uint64_t limit = a.limit == 0 ? UINT64_MAX : a.limit;
  const client::DlqFilter filter = ToClientFilter(a.filter);
  const auto start = Clock::now();
  uint64_t moved = 0;
  uint64_t after = 0;
  size_t next_id = 0;  // into a.ids
  while (moved < limit) {
    const auto want = static_cast<uint32_t>(std::min<uint64_t>(chunk, limit - moved));
    client::DlqSelection sel;
    if (!a.ids.empty()) {
      if (next_id >= a.ids.size()) break;
      const size_t end = std::min(a.ids.size(), next_id + want);
      sel.ids.assign(a.ids.begin() + static_cast<std::ptrdiff_t>(next_id),
                     a.ids.begin() + static_cast<std::ptrdiff_t>(end));
      next_id = end;
    } else {
      auto page = c.DlqList(filter, after, want);
      if (!page.ok()) return Fail(cl, page.status(), err);
      if (page->entries.empty()) break;
      for (const auto& e : page->entries) sel.ids.push_back(e.id);
      after = page->entries.back().id;
    }
    auto n = c.DlqRedrive(sel);
    if (!n.ok()) {
      err << "sluicectl: dlq redrive: stopped after " << moved << " redriven\n";
      return Fail(cl, n.status(), err);
    }
    moved += *n;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (!cl.global.json) {
      char line[160];
      std::snprintf(line, sizeof(line), "redrive: %llu moved, %.1f/s, last id %llu\n",
                    static_cast<unsigned long long>(moved),
                    elapsed > 0 ? static_cast<double>(moved) / elapsed : 0.0,
                    static_cast<unsigned long long>(sel.ids.back()));
      err << line << std::flush;
    }
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(moved) /
                                                               a.rate));
    std::this_thread::sleep_until(due);
  }
  PrintCount("redriven", moved, cl.global.json, out);
  return kExitOk;
}

// Redrives or purges up to --limit selected dead letters (0 = all of them)
// in requests of at most kDlqPerRequest, until the limit is reached or a
// request moves fewer than it asked for (none are left).
int DlqMove(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const bool redrive = cl.command == Command::kDlqRedrive;
  client::DlqSelection sel = Selection(cl.dlq);
  const uint64_t limit = cl.dlq.limit == 0 ? UINT64_MAX : cl.dlq.limit;
  uint64_t moved = 0;
  while (moved < limit) {
    const auto want = static_cast<uint32_t>(std::min<uint64_t>(kDlqPerRequest, limit - moved));
    sel.limit = want;
    auto n = redrive ? c.DlqRedrive(sel) : c.DlqPurge(sel);
    if (!n.ok()) {
      if (moved > 0) {
        err << "sluicectl: " << CommandName(cl.command) << ": stopped after " << moved << '\n';
      }
      return Fail(cl, n.status(), err);
    }
    moved += *n;
    if (*n < want) break;
  }
  PrintCount(redrive ? "redriven" : "purged", moved, cl.global.json, out);
  return kExitOk;
}

int DlqRedrive(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (cl.dlq.rate > 0) return PacedRedrive(c, cl, out, err);
  return DlqMove(c, cl, out, err);
}

int TenantSet(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const TenantSetArgs& a = cl.tenant_set;
  client::TenantUpdate update;
  update.name = a.name;
  update.weight = a.weight;
  update.rate = a.rate;
  update.burst = a.burst;
  update.max_inflight = a.max_inflight;
  if (a.rate_unit) update.rate_unit = client::ParseRateUnit(*a.rate_unit);
  auto config = c.TenantSet(update);
  if (!config.ok()) return Fail(cl, config.status(), err);
  RenderTenantConfig(*config, cl.global.json, out);
  return kExitOk;
}

// Runtime statistics of every tenant with activity, plus every configured
// tenant without activity (limits only).
int TenantList(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  auto stats = c.Stats();
  if (!stats.ok()) return Fail(cl, stats.status(), err);
  auto configured = c.TenantList();
  if (!configured.ok()) return Fail(cl, configured.status(), err);
  std::vector<client::TenantStats> tenants = stats->tenants;
  for (const auto& t : *configured) {
    const bool known = std::any_of(tenants.begin(), tenants.end(),
                                   [&](const client::TenantStats& s) { return s.name == t.name; });
    if (known) continue;
    client::TenantStats s;
    s.name = t.name;
    s.weight = t.weight;
    s.rate = t.rate;
    s.burst = t.burst;
    s.max_inflight = t.max_inflight;
    s.rate_unit = t.rate_unit;
    tenants.push_back(std::move(s));
  }
  std::sort(tenants.begin(), tenants.end(),
            [](const auto& x, const auto& y) { return x.name < y.name; });
  RenderTenants(tenants, cl.global.json, out);
  return kExitOk;
}

int QueuePause(Client& c, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const bool pause = cl.command == Command::kQueuePause;
  const Status s = pause ? c.QueuePause(cl.queue_name) : c.QueueResume(cl.queue_name);
  if (!s.ok()) return Fail(cl, s, err);
  if (cl.global.json) {
    JsonWriter w;
    w.BeginObject().Key("queue").String(cl.queue_name).Key("paused").Bool(pause).EndObject();
    PrintJson(out, w);
  } else {
    out << "queue " << cl.queue_name
        << (pause ? " paused: enqueues are accepted, nothing is leased until resumed\n"
                  : " resumed\n");
  }
  return kExitOk;
}

}  // namespace

int RunNetworkCommand(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  client::ClientOptions options;
  auto address = wire::ParseHostPort(cl.global.broker, "--broker");
  if (!address.ok()) return UsageError(address.status().message(), err);
  options.host = address->host;
  options.port = address->port;
  options.client_name = "sluicectl";
  options.token = cl.global.token;
  options.connect_timeout = std::chrono::milliseconds(5000);
  // A payload file that cannot be read fails the command before any connection.
  std::string payload;
  if (cl.command == Command::kEnqueue) {
    if (cl.enqueue.payload) {
      payload = *cl.enqueue.payload;
    } else if (cl.enqueue.payload_file) {
      auto bytes = ReadPayloadFile(*cl.enqueue.payload_file);
      if (!bytes.ok()) return UsageError(bytes.status().message(), err);
      payload = std::move(*bytes);
    }
  }
  auto connected = Client::Connect(options);
  if (!connected.ok()) return Fail(cl, connected.status(), err);
  Client& c = **connected;
  switch (cl.command) {
    case Command::kStats: return Stats(c, cl, out, err, /*with_totals=*/true);
    case Command::kQueues: return Stats(c, cl, out, err, /*with_totals=*/false);
    case Command::kEnqueue: return Enqueue(c, cl, std::move(payload), out, err);
    case Command::kLease: return Lease(c, cl, out, err);
    case Command::kAck: return Ack(c, cl, out, err);
    case Command::kNack: return Nack(c, cl, out, err);
    case Command::kTaskShow: return TaskShow(c, cl, out, err);
    case Command::kDlqList: return DlqList(c, cl, out, err);
    case Command::kDlqShow: return TaskShow(c, cl, out, err);
    case Command::kDlqRedrive: return DlqRedrive(c, cl, out, err);
    case Command::kDlqPurge: return DlqMove(c, cl, out, err);
    case Command::kTenantSet: return TenantSet(c, cl, out, err);
    case Command::kTenantList: return TenantList(c, cl, out, err);
    case Command::kQueuePause:
    case Command::kQueueResume: return QueuePause(c, cl, out, err);
    case Command::kNone: break;
  }
  return UsageError("no command given; see sluicectl --help", err);
}

}  // namespace sluice::ctl
