#include "soak/soak_load.h"

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <utility>

namespace sluice::soak {

namespace {

using client::Client;
using client::LeasedTask;
using client::TaskSpec;
using Ticket = CrashOracle::Ticket;
using std::chrono::milliseconds;

// How a reply is taken.
enum class Reply : uint8_t {
  kOk,
  kRefused,  // the broker said no: nothing changed
  kUnknown,  // no answer (broker gone, closed, timed out, task busy): either way
};

}  // namespace

struct SoakLoad::Thread {
  std::unique_ptr<Client> client;
  std::mt19937_64 rng;
  std::string name;
  std::thread thread;
  // Leases a worker keeps until the kill: attempts open at the crash.
  std::vector<LeasedTask> held;

  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(rng() % n); }
  bool Percent(uint32_t p) { return Below(100) < p; }
};

namespace {

// Judges a reply's status. Codes a healthy soak never causes (storage errors,
// INTERNAL, PROTOCOL, a request the broker calls invalid) are reported as
// unexpected and left pending: a refused write's outcome is unknown.
Reply Judge(SoakWorld& world, int cycle, const std::string& what, const Status& st) {
  switch (st.code()) {
    case Code::kOk:
      return Reply::kOk;
    case Code::kStaleLease:
    case Code::kNotFound:
    case Code::kFailedPrecondition:
      return Reply::kRefused;
    case Code::kUnavailable:
      return Reply::kUnknown;
    default:
      world.Report(cycle, "unexpected_reply", what + ": " + st.ToString());
      return Reply::kUnknown;
  }
}

std::map<std::string, std::string> JournalMap(const std::vector<client::JournalEntry>& entries) {
  std::map<std::string, std::string> out;
  for (const auto& e : entries) out.emplace(e.step, e.value);
  return out;
}

// A task for `key`: a random queue, tenant, priority, delay, attempt budget
// and (sometimes) idempotency key; `again` sends an old key once more.
TaskSpec MakeSpec(std::mt19937_64& rng, int64_t key, const std::optional<KeyedSpec>& again) {
  auto below = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  TaskSpec spec;
  spec.queue = again ? again->queue : std::string(kQueues[below(kQueues.size())]);
  spec.tenant = again ? again->tenant : std::string(kTenants[below(kTenants.size())]);
  if (below(10) >= 3) spec.priority = static_cast<uint8_t>(below(8));
  spec.payload = testing::PayloadFor(key, 32 + below(256));
  const uint32_t delay = below(100);
  spec.delay_ms = delay < 75 ? 0 : delay < 95 ? 1 + below(100) : 1000 + below(2000);
  spec.max_attempts = below(5) == 0 ? 20 : 1 + below(5);
  spec.backoff = {1 + below(10), 50};
  if (again) {
    spec.idempotency_key = again->key;
  } else if (below(100) < 30) {
    spec.idempotency_key = "k" + std::to_string(key);
  }
  if (below(4) == 0) {
    spec.headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
  }
  return spec;
}

}  // namespace

SoakLoad::SoakLoad(SoakWorld& world, LoadOptions options)
    : world_(world), options_(std::move(options)) {}

SoakLoad::~SoakLoad() { Stop(); }

Status SoakLoad::Start(const std::string& host, uint16_t port, uint64_t seed, int cycle) {
  Stop();
  cycle_ = cycle;
  stop_ = false;
  const int total = options_.producers + options_.workers + options_.operators;
  for (int i = 0; i < total; ++i) {
    auto t = std::make_unique<Thread>();
    const char* role = i < options_.producers                      ? "producer"
                       : i < options_.producers + options_.workers ? "worker"
                                                                   : "operator";
    t->name = "soak-c" + std::to_string(cycle) + "-" + role + std::to_string(i);
    t->rng.seed(seed * 1'000'003 + static_cast<uint64_t>(i));
    client::ClientOptions o;
    o.host = host;
    o.port = port;
    o.client_name = t->name;
    o.connect_timeout = milliseconds(5000);
    o.request_timeout = milliseconds(10'000);
    o.reconnect.initial_backoff = milliseconds(10);
    o.reconnect.max_backoff = milliseconds(100);
    auto c = Client::Connect(o);
    if (!c.ok()) {
      threads_.clear();
      return c.status();
    }
    t->client = std::move(*c);
    threads_.push_back(std::move(t));
  }
  for (int i = 0; i < total; ++i) {
    Thread& t = *threads_[static_cast<size_t>(i)];
    if (i < options_.producers) {
      t.thread = std::thread([this, &t] { RunProducer(t); });
    } else if (i < options_.producers + options_.workers) {
      t.thread = std::thread([this, &t] { RunWorker(t); });
    } else {
      t.thread = std::thread([this, &t] { RunOperator(t); });
    }
  }
  return Status::Ok();
}

void SoakLoad::Stop() {
  stop_ = true;
  for (auto& t : threads_) t->client->Close();
  for (auto& t : threads_) {
    if (t->thread.joinable()) t->thread.join();
  }
  threads_.clear();
}

// ---------------------------------------------------------------- producer

void SoakLoad::RunProducer(Thread& t) {
  CrashOracle& oracle = world_.oracle;
  uint64_t requests = 0;
  bool held_back = false;
  while (!stop_) {
    if (requests++ % 32 == 0) {
      auto stats = t.client->Stats();
      if (stats.ok()) {
        uint64_t backlog = 0;
        for (const auto& q : stats->queues) backlog += q.ready + q.delayed + q.dead;
        held_back = backlog > options_.backlog_cap;
      }
    }
    if (held_back) {
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    std::optional<KeyedSpec> again;
    if (t.Percent(15)) again = world_.PickKey(t.rng);
    const size_t n = again ? 1 : t.Percent(25) ? 2 + t.Below(4) : 1;
    std::vector<TaskSpec> specs;
    std::vector<int64_t> keys;
    for (size_t i = 0; i < n; ++i) {
      keys.push_back(world_.NextKey());
      specs.push_back(MakeSpec(t.rng, keys.back(), again));
      const TaskSpec& s = specs.back();
      // pending: in flight; only a reply makes it acknowledged.
      oracle.EnqueuePending(
          keys.back(), s.idempotency_key.empty() ? "" : OracleKey(s.tenant, s.idempotency_key));
    }
    auto r = t.client->EnqueueMany(specs);
    if (!r.ok()) {
      if (Judge(world_, cycle_, "enqueue", r.status()) == Reply::kUnknown) {
        std::this_thread::sleep_for(milliseconds(2));
      }
      continue;
    }
    for (size_t i = 0; i < r->size() && i < keys.size(); ++i) {
      const Result<client::EnqueueResult>& one = (*r)[i];
      const TaskSpec& s = specs[i];
      if (!one.ok()) {
        if (Judge(world_, cycle_, "enqueue", one.status()) == Reply::kRefused) {
          oracle.EnqueueRefused(keys[i]);
        }
        continue;
      }
      if (s.idempotency_key.empty()) {
        oracle.EnqueueAcked(keys[i], one->id);
      } else if (std::string broken = oracle.EnqueueAnswered(keys[i], one->id, one->duplicate);
                 !broken.empty()) {
        world_.Report(cycle_, "idempotency", broken);
      }
      world_.Count(one->duplicate ? OpKind::kEnqueueDup : OpKind::kEnqueue);
      if (!one->duplicate) world_.AddLive(one->id);
      if (!one->duplicate && !s.idempotency_key.empty()) {
        world_.AddKey({s.queue, s.tenant, s.idempotency_key});
      }
    }
  }
}

// ------------------------------------------------------------------ worker

namespace {

// One leased task's script, run by the worker that holds it. Returns false
// when a reply left the outcome unknown (the broker is likely gone): the
// task is then left alone, its request pending in the oracle.
class TaskScript {
 public:
  TaskScript(SoakWorld& world, int cycle, Client& client, std::mt19937_64& rng,
             const LeasedTask& task)
      : world_(world),
        oracle_(world.oracle),
        cycle_(cycle),
        client_(client),
        rng_(rng),
        task_(task) {}

  enum class End : uint8_t { kDone, kHold, kUnknown };

  End Run(bool may_hold) {
    for (uint32_t n = Percent(40) ? 1 + Below(2) : 0; n > 0; --n) {
      if (!JournalPut()) return End::kUnknown;
    }
    if (Percent(20) && !JournalGet()) return End::kUnknown;
    if (Percent(5)) {
      std::optional<bool> go_on = CancelOwn();
      if (!go_on) return End::kUnknown;
    }
    if (Percent(35)) {
      std::optional<bool> go_on = Heartbeat();
      if (!go_on) return End::kUnknown;
      if (!*go_on) return End::kDone;  // cancelled or stale: the attempt is over
    }
    const uint32_t roll = Below(100);
    if (roll < 62) return Ack() ? End::kDone : End::kUnknown;
    if (roll < 80) return Nack(/*fatal=*/false) ? End::kDone : End::kUnknown;
    if (roll < 92 || !may_hold) return Nack(/*fatal=*/true) ? End::kDone : End::kUnknown;
    return End::kHold;
  }

 private:
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  bool Percent(uint32_t p) { return Below(100) < p; }
  Reply Judge(const std::string& what, const Status& st) {
    return soak::Judge(world_, cycle_, what + " of task " + std::to_string(task_.id), st);
  }

  bool JournalPut() {
    const uint64_t mark = world_.NextMark();
    const std::string step = "s" + std::to_string(mark);
    const std::string value = "v" + std::to_string(mark);
    const Ticket t = oracle_.JournalSent(task_.id, step, value);
    const Reply r = Judge("journal put", client_.JournalPut(task_.token, step, value));
    if (r == Reply::kOk) {
      oracle_.JournalAnswered(t);
      world_.Count(OpKind::kJournalPut);
    } else if (r == Reply::kRefused) {
      oracle_.Refused(t);
    }
    return r != Reply::kUnknown;
  }

  bool JournalGet() {
    auto got = client_.JournalGet(task_.token);
    if (!got.ok()) return Judge("journal get", got.status()) != Reply::kUnknown;
    world_.Count(OpKind::kJournalGet);
    world_.Report(cycle_, oracle_.CheckHolderView(task_.id, JournalMap(*got), std::nullopt));
    return true;
  }

  // An operator's cancel of the task this worker holds: it must come back
  // marked (kCancelling). nullopt: unknown outcome.
  std::optional<bool> CancelOwn() {
    const Ticket t = oracle_.CancelSent(task_.id);
    auto r = client_.TaskCancel(task_.id);
    if (!r.ok()) {
      const Reply reply = Judge("cancel", r.status());
      if (reply == Reply::kUnknown) return std::nullopt;
      if (r.status().code() == Code::kNotFound) {
        oracle_.CancelAnswered(t, CrashOracle::CancelReply::kNotFound);
      } else {
        oracle_.Refused(t);
      }
      return true;
    }
    world_.Count(OpKind::kCancel);
    oracle_.CancelAnswered(
        t, *r == client::CancelOutcome::kCancelling  ? CrashOracle::CancelReply::kMarked
           : *r == client::CancelOutcome::kCancelled ? CrashOracle::CancelReply::kDead
                                                     : CrashOracle::CancelReply::kAlreadyDead);
    return true;
  }

  // true: the attempt goes on; false: it is over (CANCELLED, or the token is
  // stale); nullopt: unknown outcome.
  std::optional<bool> Heartbeat() {
    std::string checkpoint;
    if (Percent(50)) checkpoint = "c" + std::to_string(world_.NextMark());
    const Ticket t = oracle_.HeartbeatSent(task_.id, checkpoint);
    auto r = client_.Heartbeat(
        task_.token, 0,
        checkpoint.empty() ? std::nullopt : std::optional<std::string_view>(checkpoint));
    if (r.ok()) {
      oracle_.HeartbeatAnswered(t, /*cancelled=*/false);
      world_.Count(OpKind::kHeartbeat);
      if (!checkpoint.empty()) world_.Count(OpKind::kCheckpoint);
      return true;
    }
    if (r.status().code() == Code::kCancelled) {
      oracle_.HeartbeatAnswered(t, /*cancelled=*/true);
      world_.Count(OpKind::kHeartbeat);
      world_.AddDead(task_.id);
      return false;
    }
    const Reply reply = Judge("heartbeat", r.status());
    if (reply == Reply::kUnknown) return std::nullopt;
    oracle_.Refused(t);
    return false;
  }

  bool Ack() {
    oracle_.AckPending(task_.id);
    const std::span<const client::LeaseToken> tokens(&task_.token, 1);
    auto r = client_.Ack(tokens);
    if (!r.ok()) return Judge("ack", r.status()) != Reply::kUnknown;
    const Reply reply = Judge("ack", r->empty() ? Status::Internal("empty ack reply") : (*r)[0]);
    if (reply == Reply::kOk) {
      oracle_.AckAcked(task_.id);
      world_.Count(OpKind::kAck);
    } else if (reply == Reply::kRefused) {
      oracle_.AckRefused(task_.id);
    }
    return reply != Reply::kUnknown;
  }

  bool Nack(bool fatal) {
    const Ticket t = oracle_.NackSent(task_.id, fatal);
    std::optional<uint32_t> delay;
    if (Percent(30)) delay = Below(20);
    auto r = client_.Nack(task_.token, fatal ? "soak: fatal" : "soak: retry", fatal, delay);
    if (!r.ok()) {
      const Reply reply = Judge("nack", r.status());
      if (reply == Reply::kRefused) oracle_.Refused(t);
      return reply != Reply::kUnknown;
    }
    oracle_.NackAnswered(t, r->dead);
    world_.Count(fatal ? OpKind::kNackFatal : OpKind::kNackRetry);
    if (r->dead) world_.AddDead(task_.id);
    return true;
  }

  SoakWorld& world_;
  CrashOracle& oracle_;
  const int cycle_;
  Client& client_;
  std::mt19937_64& rng_;
  const LeasedTask& task_;
};

}  // namespace

void SoakLoad::RunWorker(Thread& t) {
  CrashOracle& oracle = world_.oracle;
  constexpr size_t kMaxHeld = 3;
  while (!stop_) {
    const std::string queue(kQueues[t.Below(kQueues.size())]);
    const Ticket sent = oracle.Tick();
    auto leased =
        t.client->Lease(queue, 1 + t.Below(4), 5 + t.Below(25), options_.lease_ms, t.name);
    if (!leased.ok()) {
      if (Judge(world_, cycle_, "lease", leased.status()) == Reply::kUnknown) {
        std::this_thread::sleep_for(milliseconds(2));
      }
      continue;
    }
    for (const LeasedTask& task : *leased) {
      world_.Count(OpKind::kLease);
      world_.Report(cycle_,
                    oracle.LeaseAnswered(testing::KeyOfPayload(task.payload), task.id, sent));
      world_.Report(cycle_, oracle.CheckHolderView(task.id, JournalMap(task.journal),
                                                   task.checkpoint.value_or("")));
    }
    for (const LeasedTask& task : *leased) {
      TaskScript script(world_, cycle_, *t.client, t.rng, task);
      const TaskScript::End end = script.Run(t.held.size() < kMaxHeld);
      if (end == TaskScript::End::kHold) t.held.push_back(task);
      if (end == TaskScript::End::kUnknown) break;  // the rest stay leased
    }
  }
}

// ---------------------------------------------------------------- operator

void SoakLoad::RunOperator(Thread& t) {
  CrashOracle& oracle = world_.oracle;
  while (!stop_) {
    std::this_thread::sleep_for(milliseconds(1 + t.Below(4)));
    // Mostly redrives: dead letters come from every fatal nack, exhausted
    // run and cancel, and only redrives (then acks) take them away.
    const uint32_t roll = t.Below(100);
    if (roll < 30) {
      const std::optional<TaskId> id = world_.PickLive(t.rng);
      if (!id) continue;
      const Ticket sent = oracle.CancelSent(*id);
      auto r = t.client->TaskCancel(*id);
      if (!r.ok()) {
        if (Judge(world_, cycle_, "cancel of task " + std::to_string(*id), r.status()) ==
            Reply::kRefused) {
          if (r.status().code() == Code::kNotFound) {
            oracle.CancelAnswered(sent, CrashOracle::CancelReply::kNotFound);
          } else {
            oracle.Refused(sent);
          }
        }
        continue;
      }
      world_.Count(OpKind::kCancel);
      switch (*r) {
        case client::CancelOutcome::kCancelled:
          oracle.CancelAnswered(sent, CrashOracle::CancelReply::kDead);
          world_.AddDead(*id);
          break;
        case client::CancelOutcome::kCancelling:
          oracle.CancelAnswered(sent, CrashOracle::CancelReply::kMarked);
          break;
        case client::CancelOutcome::kAlreadyDead:
          oracle.CancelAnswered(sent, CrashOracle::CancelReply::kAlreadyDead);
          break;
      }
    } else if (roll < 85) {
      // A redrive of 1..8 dead letters by id. The reply counts the moved
      // ones: all or none is an answer for each; anything between leaves
      // every one pending (either way).
      std::vector<TaskId> ids;
      for (uint32_t n = 1 + t.Below(8); n > 0; --n) {
        if (std::optional<TaskId> id = world_.TakeDead(t.rng)) ids.push_back(*id);
      }
      if (ids.empty()) continue;
      std::vector<Ticket> sent;
      for (TaskId id : ids) sent.push_back(oracle.RedriveSent(id));
      client::DlqSelection selection;
      selection.ids = ids;
      auto r = t.client->DlqRedrive(selection);
      if (!r.ok()) {
        if (Judge(world_, cycle_, "redrive", r.status()) == Reply::kRefused) {
          for (Ticket s : sent) oracle.Refused(s);
        }
        continue;
      }
      if (*r != 0 && *r != ids.size()) continue;
      for (size_t i = 0; i < ids.size(); ++i) {
        oracle.RedriveAnswered(sent[i], *r != 0);
        if (*r == 0) continue;
        world_.Count(OpKind::kRedrive);
        world_.AddLive(ids[i]);
      }
    } else {
      // Reads: they change nothing, and must answer while the broker lives.
      const std::optional<TaskId> id = world_.PickLive(t.rng);
      if (id) {
        auto shown = t.client->TaskShow(*id);
        if (!shown.ok()) Judge(world_, cycle_, "task show", shown.status());
      }
      client::TaskListQuery query;
      query.queue = std::string(kQueues[t.Below(kQueues.size())]);
      query.limit = 20;
      auto page = t.client->TaskList(query);
      if (!page.ok()) Judge(world_, cycle_, "task list", page.status());
    }
  }
}

}  // namespace sluice::soak
