// Model-based property test of core::Engine over MemStore with a ManualClock.
//
// Random operations (enqueue batches with priorities and costs, lease, ack,
// nack, heartbeat, clock steps with Tick -- now and then past every aging
// bound --, completion of pending writes, tenant caps and task or cost
// rates) run against the
// engine and a simple reference model of every task's state. After every
// step the model's invariants and the engine's counters (queue counts, and
// each tenant's quota usage) are compared.
// Seeds are logged with SCOPED_TRACE; SLUICE_SEED=<n> replays one seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/record_cache_store.h"
#include "support/mem_store.h"

namespace sluice::core {
namespace {

using testing::MemStore;

constexpr int kQueues = 2;
constexpr int kTenants = 4;
constexpr size_t kMaxLive = 300;

const std::array<std::string, kQueues> kQueueNames = {"qa", "qb"};
const std::array<std::string, kTenants> kTenantNames = {"ta", "tb", "tc", "td"};

// kRemoving: an operator's cancel (of a ready or delayed task) or purge is
// being written; the task is out of every count, then dead or gone.
enum class St { kAvailable, kLeased, kAcking, kEnding, kRemoving, kDead, kGone };

struct ModelTask {
  St st = St::kAvailable;
  int queue = 0;
  int tenant = 0;
  uint32_t max_attempts = 0;
  uint32_t ended = 0;        // nacks + expiries that completed (or are being written)
  TimeMs visible_at = 0;     // lower bound of the time it may be leased again
  LeaseToken token;          // last token handed out
  bool has_token = false;
  TimeMs deadline = 0;
  uint32_t lease_ms = 0;
  bool ending_dead = false;  // predicted outcome of the attempt ending in flight
  bool cancelled = false;    // cancelled while leased: its attempt's end makes it dead
  St removing_to = St::kGone;  // kRemoving: where it goes once written
  std::string payload;
};

struct TenantCap {
  uint32_t cap = 0;  // 0 = unlimited
  int pending = 0;   // limit writes in flight
  uint32_t pending_max = 0;  // the loosest cap requested while pending (0 = unlimited)
  bool pending_unlimited = false;
};

class EngineModel {
 public:
  // `cache_bytes` > 0: the engine runs on a RecordCacheStore of that budget
  // over the MemStore.
  explicit EngineModel(uint64_t seed, size_t cache_bytes = 0) : rng_(seed) {
    if (cache_bytes > 0) cache_ = std::make_unique<RecordCacheStore>(store_, cache_bytes);
    EngineOptions opts;
    opts.seed = seed + 1;
    opts.default_backoff_initial_ms = 50;
    opts.default_backoff_max_ms = 400;
    opts.default_lease_ms = 1000;
    opts.default_max_attempts = 3;
    auto e = Engine::Open(cache_ ? static_cast<Store&>(*cache_) : store_, clock_, opts);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (e.ok()) engine_ = std::move(*e);
  }

  bool ok() const { return engine_ != nullptr; }
  const RecordCacheStore* cache() const { return cache_.get(); }

  // Runs `ops` random steps; stops at the first failed check.
  void Run(int ops) {
    for (int i = 0; i < ops; ++i) {
      op_ = i;
      Step();
      Check();
      if (i % 1000 == 999) DeepCheck();
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "first failure at operation " << i;
        return;
      }
    }
    // Drain: complete writes and let everything expire, then check again.
    Complete();
    Check();
  }

  uint64_t leases() const { return leases_; }
  uint64_t expiries() const { return expiries_; }

 private:
  uint32_t Rand(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  bool Chance(uint32_t pct) { return Rand(100) < pct; }

  void Step() {
    uint32_t r = Rand(100);
    if (r < 18) {
      DoEnqueue();
    } else if (r < 38) {
      DoLease();
    } else if (r < 52) {
      DoAck();
    } else if (r < 62) {
      DoNack();
    } else if (r < 68) {
      DoHeartbeat();
    } else if (r < 80) {
      DoTick();
    } else if (r < 92) {
      Complete();
    } else if (r < 94) {
      DoCancel();
    } else if (r < 95) {
      DoSetPriority();
    } else if (r < 96) {
      if (Chance(30)) DoPurge();
    } else if (r < 98) {
      DoStaleCalls();
    } else {
      DoSetLimits();
    }
  }

  // ---------------------------------------------------------------- ops ---

  void DoEnqueue() {
    size_t live = 0;
    for (const auto& [id, t] : tasks_) {
      if (t.st != St::kDead && t.st != St::kGone) ++live;
    }
    if (live + pending_enqueue_ >= kMaxLive) return;
    size_t n = 1 + Rand(8);
    std::vector<EnqueueSpec> specs;
    auto meta = std::make_shared<std::vector<ModelTask>>();
    const TimeMs now = clock_.NowMs();
    for (size_t i = 0; i < n; ++i) {
      EnqueueSpec s;
      ModelTask t;
      t.queue = static_cast<int>(Rand(kQueues));
      t.tenant = static_cast<int>(Rand(kTenants));
      s.queue = kQueueNames[t.queue];
      s.tenant = kTenantNames[t.tenant];
      s.priority = static_cast<uint8_t>(Rand(8));
      if (Chance(50)) s.cost = 1 + Rand(100);  // share and cost-unit rates count it
      s.payload = "p" + std::to_string(op_);
      t.payload = s.payload;
      s.max_attempts = Rand(4);  // 0 = default (3)
      t.max_attempts = s.max_attempts ? s.max_attempts : 3;
      static constexpr std::array<uint32_t, 3> kLeaseMs = {0, 300, 2000};
      s.lease_ms = kLeaseMs[Rand(3)];
      if (Chance(25)) s.delay_ms = 1 + Rand(2000);
      t.visible_at = now + s.delay_ms;
      specs.push_back(std::move(s));
      meta->push_back(t);
    }
    pending_enqueue_ += n;
    engine_->Enqueue(std::move(specs), [this, meta, n](std::vector<Result<EnqueueOutcome>> out) {
      pending_enqueue_ -= n;
      ASSERT_EQ(out.size(), meta->size());
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_TRUE(out[i].ok()) << out[i].status().ToString();
        EXPECT_FALSE(out[i]->duplicate);
        TaskId id = out[i]->id;
        EXPECT_EQ(tasks_.count(id) + retired_.count(id), 0u) << "task id " << id << " reused";
        tasks_[id] = (*meta)[i];
      }
    });
  }

  // Tasks that count toward the tenant's in-flight cap in the engine.
  std::array<uint32_t, kTenants> Inflight() const {
    std::array<uint32_t, kTenants> n{};
    for (const auto& [id, t] : tasks_) {
      if (t.st == St::kLeased || t.st == St::kAcking || t.st == St::kEnding) ++n[t.tenant];
    }
    return n;
  }

  void DoLease() {
    LeaseRequest req;
    int q = static_cast<int>(Rand(kQueues));
    req.queue = kQueueNames[q];
    req.max_tasks = 1 + Rand(6);
    if (Chance(30)) req.lease_ms = 100 + Rand(1500);
    req.worker = "w" + std::to_string(Rand(3));
    auto before = Inflight();
    std::optional<Result<std::vector<LeasedTask>>> out;
    engine_->Lease(req, [&](Result<std::vector<LeasedTask>> r) { out = std::move(r); });
    ASSERT_TRUE(out.has_value()) << "a lease without wait must answer at once";
    ASSERT_TRUE(out->ok()) << out->status().ToString();
    ASSERT_LE((*out)->size(), req.max_tasks);
    const TimeMs now = clock_.NowMs();
    for (const LeasedTask& lt : **out) {
      auto it = tasks_.find(lt.id);
      ASSERT_NE(it, tasks_.end()) << "leased unknown task " << lt.id;
      ModelTask& t = it->second;
      ASSERT_EQ(t.st, St::kAvailable) << "task " << lt.id << " leased while in state "
                                      << static_cast<int>(t.st);
      EXPECT_EQ(lt.queue, kQueueNames[t.queue]);
      EXPECT_EQ(lt.tenant, kTenantNames[t.tenant]);
      EXPECT_LE(t.visible_at, now) << "task " << lt.id << " leased before its delay ended";
      EXPECT_EQ(lt.attempt, t.ended + 1) << "task " << lt.id;
      EXPECT_EQ(lt.payload, t.payload) << "task " << lt.id;
      EXPECT_EQ(lt.token.task_id, lt.id);
      if (t.has_token) {
        EXPECT_NE(lt.token, t.token) << "token repeated for task " << lt.id;
      }
      EXPECT_GT(lt.deadline_ms, now);
      t.st = St::kLeased;
      t.token = lt.token;
      t.has_token = true;
      t.deadline = lt.deadline_ms;
      t.lease_ms = static_cast<uint32_t>(lt.deadline_ms - now);
      ++leases_;
    }
    auto after = Inflight();
    for (int tn = 0; tn < kTenants; ++tn) {
      uint32_t cap = EffectiveCap(tn);
      if (cap == 0 || after[tn] == before[tn]) continue;
      EXPECT_LE(after[tn], cap) << "tenant " << kTenantNames[tn] << " over max_inflight";
    }
  }

  uint32_t EffectiveCap(int tn) const {
    const TenantCap& c = caps_[tn];
    if (c.pending == 0) return c.cap;
    if (c.cap == 0 || c.pending_unlimited) return 0;
    return std::max(c.cap, c.pending_max);
  }

  std::vector<TaskId> WithState(St st) const {
    std::vector<TaskId> out;
    for (const auto& [id, t] : tasks_) {
      if (t.st == st) out.push_back(id);
    }
    return out;
  }

  // The answer to a token that is not current: NOT_FOUND once its task is
  // gone (acked), STALE_LEASE while it exists (live, or a dead letter).
  Code StaleCode(const LeaseToken& tok) const {
    return gone_.count(tok.task_id) ? Code::kNotFound : Code::kStaleLease;
  }

  void RememberStale(const LeaseToken& tok) {
    if (stale_.size() >= 64) stale_.erase(stale_.begin() + Rand(64));
    stale_.push_back(tok);
  }

  void DoAck() {
    auto leased = WithState(St::kLeased);
    std::vector<LeaseToken> tokens;
    std::vector<std::optional<TaskId>> who;  // nullopt = stale token
    size_t n = leased.empty() ? 0 : 1 + Rand(std::min<uint32_t>(4, leased.size()));
    std::shuffle(leased.begin(), leased.end(), rng_);
    for (size_t i = 0; i < n; ++i) {
      tokens.push_back(tasks_[leased[i]].token);
      who.push_back(leased[i]);
    }
    if (!stale_.empty() && Chance(30)) {
      tokens.push_back(stale_[Rand(stale_.size())]);
      who.push_back(std::nullopt);
    }
    if (tokens.empty()) return;
    for (size_t i = 0; i < who.size(); ++i) {
      if (who[i]) {
        tasks_[*who[i]].st = St::kAcking;
        RememberStale(tokens[i]);
      }
    }
    auto got = std::make_shared<bool>(false);
    // Decided when the ack is submitted (the engine checks tokens then).
    std::vector<Code> expect;
    for (const LeaseToken& t : tokens) expect.push_back(StaleCode(t));
    engine_->Ack(tokens, [this, who, got, expect](std::vector<Status> res) {
      *got = true;
      ASSERT_EQ(res.size(), who.size());
      for (size_t i = 0; i < res.size(); ++i) {
        if (who[i]) {
          EXPECT_TRUE(res[i].ok()) << "ack of task " << *who[i] << ": " << res[i].ToString();
          Retire(*who[i], St::kGone);
        } else {
          EXPECT_EQ(res[i].code(), expect[i]) << "stale ack: " << res[i].ToString();
        }
      }
    });
    bool any_live = std::any_of(who.begin(), who.end(), [](const auto& w) { return w.has_value(); });
    if (!any_live) {
      EXPECT_TRUE(*got) << "an ack of stale tokens only answers at once";
    }
  }

  void DoNack() {
    auto leased = WithState(St::kLeased);
    if (leased.empty()) return;
    TaskId id = leased[Rand(leased.size())];
    ModelTask& t = tasks_[id];
    NackSpec spec;
    spec.fatal = Chance(15);
    spec.error = spec.fatal ? "fatal" : "retry";
    if (Chance(50)) spec.delay_ms = Rand(1500);
    const TimeMs now = clock_.NowMs();
    RememberStale(t.token);
    t.st = St::kEnding;
    t.ended += 1;
    t.ending_dead = spec.fatal || t.ended >= t.max_attempts || t.cancelled;
    t.visible_at = spec.delay_ms ? now + *spec.delay_ms : now;
    engine_->Nack(t.token, spec, [id](Status st) {
      EXPECT_TRUE(st.ok()) << "nack of task " << id << ": " << st.ToString();
    });
  }

  void DoHeartbeat() {
    auto leased = WithState(St::kLeased);
    if (leased.empty()) return;
    TaskId id = leased[Rand(leased.size())];
    ModelTask& t = tasks_[id];
    uint32_t extend = Chance(30) ? 0 : 10 + Rand(2000);
    std::optional<std::string> checkpoint;
    if (Chance(20)) checkpoint = "cp" + std::to_string(op_);
    const TimeMs now = clock_.NowMs();
    TimeMs expect = now + (extend ? extend : t.lease_ms);
    if (t.cancelled) {
      // The holder learns of the cancel: the attempt ends, the task is dead.
      RememberStale(t.token);
      t.st = St::kEnding;
      t.ended += 1;
      t.ending_dead = true;
      engine_->Heartbeat(t.token, extend, checkpoint, [id](Result<TimeMs> r) {
        EXPECT_EQ(r.status().code(), Code::kCancelled)
            << "heartbeat of cancelled task " << id << ": " << r.status().ToString();
      });
      return;
    }
    // The new deadline applies at once (the checkpoint write only delays the answer).
    t.deadline = expect;
    engine_->Heartbeat(t.token, extend, checkpoint, [id, expect](Result<TimeMs> r) {
      ASSERT_TRUE(r.ok()) << "heartbeat of task " << id << ": " << r.status().ToString();
      EXPECT_EQ(*r, expect);
    });
  }

  void DoTick() {
    static constexpr std::array<uint32_t, 6> kSteps = {0, 1, 10, 100, 500, 1500};
    // Now and then a long wait, past the aging bounds (120 s for level 7 with
    // the defaults): whatever is ready then competes at a climbed level.
    clock_.Advance(Chance(3) ? 10'000 + Rand(130'000) : kSteps[Rand(kSteps.size())] + Rand(50));
    const TimeMs now = clock_.NowMs();
    // Every leased task whose deadline passed ends its attempt on this Tick.
    for (auto& [id, t] : tasks_) {
      if (t.st == St::kLeased && t.deadline <= now) {
        RememberStale(t.token);
        t.st = St::kEnding;
        t.ended += 1;
        t.ending_dead = t.ended >= t.max_attempts || t.cancelled;
        t.visible_at = now;
        ++expiries_;
      }
    }
    engine_->Tick();
  }

  void Complete() {
    store_.Complete();
    // Every attempt ending was written: resolve to DEAD or back in circulation.
    std::vector<TaskId> died;
    std::vector<std::pair<TaskId, St>> removed;
    for (auto& [id, t] : tasks_) {
      if (t.st == St::kRemoving) removed.emplace_back(id, t.removing_to);
      if (t.st != St::kEnding) continue;
      if (t.ending_dead) {
        died.push_back(id);
      } else {
        t.st = St::kAvailable;
      }
    }
    for (TaskId id : died) Retire(id, St::kDead);
    for (auto [id, to] : removed) Retire(id, to);
    EXPECT_EQ(pending_enqueue_, 0u);
  }

  // Moves a task that reached a final state out of the live map (keeps the
  // per-step checks cheap); its id stays known so reuse is caught.
  void Retire(TaskId id, St st) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) {
      ADD_FAILURE() << "retiring unknown task " << id;
      return;
    }
    if (st == St::kDead) {
      ++dead_[it->second.queue];
      dead_bytes_[it->second.tenant] += it->second.payload.size();
      recent_dead_.push_back(id);
      if (recent_dead_.size() > 64) recent_dead_.erase(recent_dead_.begin());
    } else {
      gone_.insert(id);
      recent_gone_.push_back(id);
      if (recent_gone_.size() > 64) recent_gone_.erase(recent_gone_.begin());
    }
    retired_.insert(id);
    tasks_.erase(it);
  }

  // Cancel a random known task: ready or delayed -> dead (cancelled) once
  // written; leased -> marked at once; any write in flight -> UNAVAILABLE;
  // a dead one -> already dead.
  void DoCancel() {
    if (!recent_dead_.empty() && Chance(10)) {
      const TaskId id = recent_dead_[Rand(recent_dead_.size())];
      std::optional<Result<CancelOutcome>> out;
      engine_->Cancel(id, [&](Result<CancelOutcome> r) { out = std::move(r); });
      ASSERT_TRUE(out.has_value() && out->ok()) << "cancel of dead task " << id;
      EXPECT_EQ(**out, CancelOutcome::kAlreadyDead);
      return;
    }
    if (tasks_.empty()) return;
    auto it = tasks_.begin();
    std::advance(it, Rand(tasks_.size()));
    const TaskId id = it->first;
    ModelTask& t = it->second;
    switch (t.st) {
      case St::kAvailable:
        t.st = St::kRemoving;
        t.removing_to = St::kDead;
        engine_->Cancel(id, [id](Result<CancelOutcome> r) {
          ASSERT_TRUE(r.ok()) << "cancel of task " << id << ": " << r.status().ToString();
          EXPECT_EQ(*r, CancelOutcome::kCancelled) << "task " << id;
        });
        return;
      case St::kLeased:
        t.cancelled = true;
        engine_->Cancel(id, [id](Result<CancelOutcome> r) {
          ASSERT_TRUE(r.ok()) << "cancel of leased task " << id << ": " << r.status().ToString();
          EXPECT_EQ(*r, CancelOutcome::kCancelling) << "task " << id;
        });
        return;
      case St::kAcking:
      case St::kEnding:
      case St::kRemoving: {
        std::optional<Result<CancelOutcome>> out;
        engine_->Cancel(id, [&](Result<CancelOutcome> r) { out = std::move(r); });
        ASSERT_TRUE(out.has_value()) << "a busy task's cancel answers at once";
        EXPECT_EQ(out->status().code(), Code::kUnavailable) << "task " << id;
        return;
      }
      case St::kDead:
      case St::kGone:
        return;
    }
  }

  // A new priority for a random ready, delayed or leased task: OK once
  // written (the lease order checks elsewhere hold with it).
  void DoSetPriority() {
    std::vector<TaskId> live = WithState(St::kAvailable);
    for (TaskId id : WithState(St::kLeased)) live.push_back(id);
    if (live.empty()) return;
    const TaskId id = live[Rand(live.size())];
    engine_->SetPriority(id, static_cast<uint8_t>(Rand(8)), [id](Status s) {
      EXPECT_TRUE(s.ok()) << "set priority of task " << id << ": " << s.ToString();
    });
  }

  // Purges a queue (one tenant's tasks, or all): exactly its ready and
  // delayed tasks go; leased ones stay.
  void DoPurge() {
    const int q = static_cast<int>(Rand(kQueues));
    const int tn = Chance(50) ? static_cast<int>(Rand(kTenants)) : -1;
    uint64_t want = 0;
    for (auto& [id, t] : tasks_) {
      if (t.st != St::kAvailable || t.queue != q || (tn >= 0 && t.tenant != tn)) continue;
      t.st = St::kRemoving;
      t.removing_to = St::kGone;
      ++want;
    }
    QueuePurgeSpec spec{kQueueNames[q], tn >= 0 ? kTenantNames[tn] : ""};
    engine_->PurgeQueue(spec, [want, q](Result<uint64_t> r) {
      if (!r.ok() && r.status().code() == Code::kNotFound) return;  // queue not named yet
      ASSERT_TRUE(r.ok()) << "purge of " << kQueueNames[q] << ": " << r.status().ToString();
      EXPECT_EQ(*r, want) << "purged from " << kQueueNames[q];
    });
  }

  void DoStaleCalls() {
    if (stale_.empty()) return;
    LeaseToken tok = stale_[Rand(stale_.size())];
    std::optional<Status> nack;
    engine_->Nack(tok, NackSpec{"stale", false, std::nullopt}, [&](Status s) { nack = s; });
    ASSERT_TRUE(nack.has_value());
    EXPECT_EQ(nack->code(), StaleCode(tok)) << "stale nack: " << nack->ToString();
    std::optional<Result<TimeMs>> hb;
    engine_->Heartbeat(tok, 0, std::nullopt, [&](Result<TimeMs> r) { hb = std::move(r); });
    ASSERT_TRUE(hb.has_value());
    EXPECT_EQ(hb->status().code(), StaleCode(tok)) << "stale heartbeat";
  }

  void DoSetLimits() {
    int tn = static_cast<int>(Rand(kTenants));
    Limits l;
    l.weight = 1 + Rand(5);
    l.max_inflight = Chance(30) ? 0 : 1 + Rand(6);
    if (Chance(30)) {
      l.rate_per_s = 5 + Rand(200);
      l.burst = 1 + Rand(50);
      l.rate_unit = Chance(50) ? RateUnit::kCost : RateUnit::kTasks;
    }
    TenantCap& c = caps_[tn];
    if (c.pending == 0) {
      c.pending_max = 0;
      c.pending_unlimited = false;
    }
    ++c.pending;
    if (l.max_inflight == 0) c.pending_unlimited = true;
    c.pending_max = std::max(c.pending_max, l.max_inflight);
    uint32_t cap = l.max_inflight;
    engine_->SetTenantLimits(kTenantNames[tn], l, [this, tn, cap](Status st) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      TenantCap& cc = caps_[tn];
      cc.cap = cap;
      --cc.pending;
    });
  }

  // -------------------------------------------------------------- checks ---

  void Check() {
    struct Count {
      uint64_t avail = 0, leased = 0, dead = 0;
    };
    std::array<Count, kQueues> want{};
    for (int i = 0; i < kQueues; ++i) want[i].dead = dead_[i];
    for (const auto& [id, t] : tasks_) {
      switch (t.st) {
        case St::kAvailable:
          ++want[t.queue].avail;
          break;
        case St::kLeased:
        case St::kAcking:  // the engine counts a task leased until its delete is durable
          ++want[t.queue].leased;
          break;
        case St::kDead:
          ++want[t.queue].dead;
          break;
        case St::kEnding:
        case St::kRemoving:
        case St::kGone:
          break;
      }
    }
    std::array<Count, kQueues> got{};
    for (const QueueStats& q : engine_->Stats().queues) {
      for (int i = 0; i < kQueues; ++i) {
        if (q.name == kQueueNames[i]) got[i] = {q.ready + q.delayed, q.leased, q.dead};
      }
    }
    for (int i = 0; i < kQueues; ++i) {
      EXPECT_EQ(got[i].avail, want[i].avail) << "ready+delayed of " << kQueueNames[i];
      EXPECT_EQ(got[i].leased, want[i].leased) << "leased of " << kQueueNames[i];
      EXPECT_EQ(got[i].dead, want[i].dead) << "dead of " << kQueueNames[i];
    }
    // Quota usage (core/tenant_quotas.h): live tasks, and the stored bytes
    // of live tasks and dead letters (payloads here, no headers).
    std::array<uint64_t, kTenants> queued{};
    std::array<uint64_t, kTenants> bytes = dead_bytes_;
    for (const auto& [id, t] : tasks_) {
      if (t.st == St::kDead || t.st == St::kGone) continue;
      ++queued[t.tenant];
      bytes[t.tenant] += t.payload.size();
    }
    for (const TenantView& tv : engine_->ListTenants()) {
      for (int tn = 0; tn < kTenants; ++tn) {
        if (tv.name != kTenantNames[tn]) continue;
        EXPECT_EQ(tv.queued, queued[tn]) << "queued of " << tv.name;
        EXPECT_EQ(tv.stored_bytes, bytes[tn]) << "stored bytes of " << tv.name;
      }
    }
    // No two live tokens for one task: each task holds at most one current token,
    // and every remembered stale token belongs to a task no longer leased with it.
    for (const LeaseToken& tok : stale_) {
      auto it = tasks_.find(tok.task_id);
      if (it == tasks_.end()) {
        EXPECT_EQ(retired_.count(tok.task_id), 1u) << "stale token of unknown task";
        continue;
      }
      if (it->second.st == St::kLeased) {
        EXPECT_NE(it->second.token, tok) << "a stale token is current again";
      }
    }
  }

  // Compares the engine's view of every stable task with the model's.
  void DeepCheck() {
    for (const auto& [id, t] : tasks_) {
      auto v = engine_->ShowTask(id);
      switch (t.st) {
        case St::kAvailable:
          ASSERT_TRUE(v.ok()) << "task " << id << ": " << v.status().ToString();
          EXPECT_TRUE(v->state == TaskState::kReady || v->state == TaskState::kDelayed)
              << "task " << id << " is " << TaskStateName(v->state);
          break;
        case St::kLeased:
          ASSERT_TRUE(v.ok()) << "task " << id << ": " << v.status().ToString();
          EXPECT_EQ(v->state, TaskState::kLeased) << "task " << id;
          if (v->token) {
            EXPECT_EQ(*v->token, t.token) << "task " << id;
          }
          EXPECT_EQ(v->lease_deadline_ms, t.deadline) << "task " << id;
          break;
        case St::kDead:
          ASSERT_TRUE(v.ok()) << "task " << id << ": " << v.status().ToString();
          EXPECT_EQ(v->state, TaskState::kDead) << "task " << id;
          break;
        case St::kGone:
          EXPECT_EQ(v.status().code(), Code::kNotFound) << "acked task " << id;
          break;
        case St::kAcking:
        case St::kEnding:
        case St::kRemoving:
          break;
      }
      if (::testing::Test::HasFailure()) return;
    }
    for (TaskId id : recent_dead_) {
      auto v = engine_->ShowTask(id);
      ASSERT_TRUE(v.ok()) << "dead task " << id << ": " << v.status().ToString();
      EXPECT_EQ(v->state, TaskState::kDead) << "task " << id;
    }
    for (TaskId id : recent_gone_) {
      EXPECT_EQ(engine_->ShowTask(id).status().code(), Code::kNotFound) << "acked task " << id;
    }
    // Tenant in-flight as the engine reports it.
    auto inflight = Inflight();
    for (const TenantView& tv : engine_->ListTenants()) {
      for (int tn = 0; tn < kTenants; ++tn) {
        if (tv.name == kTenantNames[tn]) {
          EXPECT_EQ(tv.inflight, inflight[tn]) << "inflight of " << tv.name;
        }
      }
    }
  }

  std::mt19937_64 rng_;
  ManualClock clock_;
  MemStore store_;
  std::unique_ptr<RecordCacheStore> cache_;
  std::unique_ptr<Engine> engine_;
  std::map<TaskId, ModelTask> tasks_;
  std::vector<LeaseToken> stale_;
  std::set<TaskId> retired_;
  std::set<TaskId> gone_;  // retired as acked
  std::array<uint64_t, kQueues> dead_{};
  std::array<uint64_t, kTenants> dead_bytes_{};  // payload bytes of each tenant's dead letters
  std::vector<TaskId> recent_dead_;
  std::vector<TaskId> recent_gone_;
  std::array<TenantCap, kTenants> caps_{};
  size_t pending_enqueue_ = 0;
  int op_ = 0;
  uint64_t leases_ = 0;
  uint64_t expiries_ = 0;
};

TEST(EngineModelTest, RandomOperationsMatchTheReferenceModel) {
  std::vector<uint64_t> seeds = {1, 2, 3, 4, 5};
  int ops = 25'000;
  if (const char* env = std::getenv("SLUICE_SEED"); env != nullptr && *env != '\0') {
    seeds = {std::strtoull(env, nullptr, 10)};
    ops = 100'000;
  }
  for (uint64_t seed : seeds) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: SLUICE_SEED=" +
                 std::to_string(seed) + ")");
    EngineModel model(seed);
    ASSERT_TRUE(model.ok());
    model.Run(ops);
    if (HasFailure()) return;
    RecordProperty("leases_seed_" + std::to_string(seed), std::to_string(model.leases()));
    EXPECT_GT(model.leases(), 1000u);
    EXPECT_GT(model.expiries(), 50u);
  }
}

// The same, with the engine reading task records through a RecordCacheStore
// small enough (8 KiB, a few dozen records) that its budget keeps turning
// records away: a stale or missing record would show as a wrong payload or
// attempt number at lease time.
TEST(EngineModelTest, RandomOperationsMatchTheModelThroughTheRecordCache) {
  for (uint64_t seed : {11, 12, 13}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    EngineModel model(seed, 8 << 10);
    ASSERT_TRUE(model.ok());
    model.Run(25'000);
    if (HasFailure()) return;
    EXPECT_GT(model.cache()->hits(), 1000u);
    EXPECT_GT(model.cache()->misses(), 1000u);
  }
}

}  // namespace
}  // namespace sluice::core
