// Per-tenant quotas (Limits::max_queued, max_bytes; core/tenant_quotas.h)
// through the engine, on the manual clock and a MemStore: where a quota
// refuses, what it counts, what gives usage back, and what survives a restart.
#include "core/engine.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "unit/core/engine_fixture.h"

namespace sluice::core {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class EngineQuotaTest : public EngineFixture {
 protected:
  EngineQuotaTest() : EngineFixture(/*seed=*/7) {}

  static EnqueueSpec Spec(std::string tenant, std::string payload = "x") {
    EnqueueSpec s;
    s.queue = "q";
    s.tenant = std::move(tenant);
    s.payload = std::move(payload);
    return s;
  }

  // Sets the tenant's quotas (durably), other limits at their defaults.
  void SetQuotas(const std::string& tenant, uint64_t max_queued, uint64_t max_bytes) {
    TenantLimitsUpdate u;
    u.max_queued = max_queued;
    u.max_bytes = max_bytes;
    std::optional<Result<Limits>> out;
    engine_->UpdateTenantLimits(tenant, u, [&](Result<Limits> r) { out = std::move(r); });
    store_.Complete();
    ASSERT_TRUE(out.has_value() && out->ok()) << (out ? out->status().ToString() : "no answer");
  }

  std::vector<Result<EnqueueOutcome>> EnqueueAll(std::vector<EnqueueSpec> specs) {
    std::optional<std::vector<Result<EnqueueOutcome>>> out;
    engine_->Enqueue(std::move(specs), [&](auto r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : std::vector<Result<EnqueueOutcome>>{};
  }

  TenantView Tenant(const std::string& name) {
    for (TenantView& t : engine_->ListTenants()) {
      if (t.name == name) return std::move(t);
    }
    ADD_FAILURE() << "tenant " << name << " not listed";
    return {};
  }

  LeasedTask LeaseOne() {
    auto r = LeaseFrom("q");
    EXPECT_TRUE(r.ok() && r->size() == 1) << r.status().ToString();
    return r.ok() && !r->empty() ? std::move((*r)[0]) : LeasedTask{};
  }

  uint64_t PurgeDead() {
    std::optional<Result<uint64_t>> out;
    engine_->Purge(DeadFilter{}, 100, [&](Result<uint64_t> r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value() && out->ok());
    return out && out->ok() ? **out : 0;
  }
};

TEST_F(EngineQuotaTest, MaxQueuedAdmitsExactlyTheLimitAndSaysWhatToDo) {
  SetQuotas("acme", 3, 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(EnqueueOne(Spec("acme")).ok()) << i;
  auto refused = EnqueueOne(Spec("acme"));
  ASSERT_EQ(refused.status().code(), Code::kResourceExhausted) << refused.status().ToString();
  const std::string& m = refused.status().message();
  EXPECT_TRUE(Contains(m, "tenant acme")) << m;
  EXPECT_TRUE(Contains(m, "max_queued quota of 3 tasks")) << m;
  EXPECT_TRUE(Contains(m, "3 queued")) << m;
  EXPECT_TRUE(Contains(m, "ack or purge")) << m;
  EXPECT_TRUE(Contains(m, "sluicectl tenant set acme --max-queued")) << m;
  EXPECT_EQ(QStats().ready, 3u) << "a refused enqueue leaves nothing behind";
  const TenantView t = Tenant("acme");
  EXPECT_EQ(t.queued, 3u);
  EXPECT_EQ(t.stored_bytes, 3u);
  EXPECT_EQ(t.quota_refused, 1u);
  EXPECT_EQ(t.limits.max_queued, 3u);
}

// Payload plus header keys and values, up to the byte.
TEST_F(EngineQuotaTest, MaxBytesCountsPayloadAndHeadersUpToTheByte) {
  SetQuotas("acme", 0, 20);
  EnqueueSpec a = Spec("acme", "12345");
  a.headers = {{"k", "vvvv"}};  // 5 + 5
  ASSERT_TRUE(EnqueueOne(std::move(a)).ok());
  ASSERT_TRUE(EnqueueOne(Spec("acme", std::string(10, 'p'))).ok()) << "exactly at the limit";
  EXPECT_EQ(Tenant("acme").stored_bytes, 20u);
  auto refused = EnqueueOne(Spec("acme", "1"));
  ASSERT_EQ(refused.status().code(), Code::kResourceExhausted);
  const std::string& m = refused.status().message();
  EXPECT_TRUE(Contains(m, "max_bytes quota of 20 bytes")) << m;
  EXPECT_TRUE(Contains(m, "20 stored")) << m;
  EXPECT_TRUE(Contains(m, "this task needs 1")) << m;
  EXPECT_TRUE(Contains(m, "sluicectl tenant set acme --max-bytes")) << m;
  EXPECT_TRUE(EnqueueOne(Spec("acme", "")).ok()) << "an empty task stores no bytes";
}

// One request: each tenant's tasks are admitted in order up to its first
// refusal; other tenants' tasks in the same request go through.
TEST_F(EngineQuotaTest, ABatchAdmitsATenantsTasksInOrderUntilTheQuota) {
  SetQuotas("acme", 2, 0);
  SetQuotas("big", 0, 10);
  std::vector<EnqueueSpec> specs;
  specs.push_back(Spec("acme"));           // 0 ok
  specs.push_back(Spec("other"));          // 1 ok
  specs.push_back(Spec("acme"));           // 2 ok (2 of 2)
  specs.push_back(Spec("acme"));           // 3 refused
  specs.push_back(Spec("big", "123456"));  // 4 ok (6 of 10)
  specs.push_back(Spec("big", "12345"));   // 5 refused (11 > 10)
  specs.push_back(Spec("big", "1"));       // 6 refused: after 5, though it would fit
  specs.push_back(Spec("other"));          // 7 ok
  auto r = EnqueueAll(std::move(specs));
  ASSERT_EQ(r.size(), 8u);
  for (size_t i : {0, 1, 2, 4, 7}) EXPECT_TRUE(r[i].ok()) << i << ": " << r[i].status().ToString();
  for (size_t i : {3, 5, 6}) {
    EXPECT_EQ(r[i].status().code(), Code::kResourceExhausted) << i;
  }
  EXPECT_TRUE(Contains(r[6].status().message(), "an earlier task of tenant big"))
      << r[6].status().message();
  EXPECT_TRUE(Contains(r[6].status().message(), "max_bytes")) << r[6].status().message();
  EXPECT_EQ(QStats().ready, 5u);
  EXPECT_EQ(Tenant("acme").quota_refused, 1u);
  EXPECT_EQ(Tenant("big").quota_refused, 2u);
  EXPECT_EQ(Tenant("big").stored_bytes, 6u);
  EXPECT_EQ(Tenant("other").queued, 2u);
  EXPECT_TRUE(EnqueueOne(Spec("big", "1234")).ok()) << "a new request starts over: 10 of 10";
}

// Enqueues whose write is in flight count: two requests inside one group
// commit cannot overshoot; a failed write gives its reservation back.
TEST_F(EngineQuotaTest, EnqueuesInFlightCountAndAFailedWriteGivesThemBack) {
  SetQuotas("acme", 2, 0);
  std::vector<std::optional<std::vector<Result<EnqueueOutcome>>>> out(3);
  for (auto& o : out) {
    std::vector<EnqueueSpec> one;
    one.push_back(Spec("acme"));
    engine_->Enqueue(std::move(one), [&o](auto r) { o = std::move(r); });
  }
  ASSERT_TRUE(out[2].has_value()) << "refused at once, before any write";
  EXPECT_EQ((*out[2])[0].status().code(), Code::kResourceExhausted);
  EXPECT_EQ(Tenant("acme").queued, 2u) << "in flight";
  store_.FailNext(1, Status::Storage("injected"));
  store_.Complete();
  EXPECT_EQ((*out[0])[0].status().code(), Code::kStorage);
  EXPECT_TRUE((*out[1])[0].ok());
  EXPECT_EQ(Tenant("acme").queued, 1u) << "the failed one gave its place back";
  EXPECT_TRUE(EnqueueOne(Spec("acme")).ok());
  EXPECT_FALSE(EnqueueOne(Spec("acme")).ok());
}

TEST_F(EngineQuotaTest, OverQuotaTheTenantsWorkersAndOtherTenantsAreUnaffected) {
  SetQuotas("acme", 2, 0);
  ASSERT_TRUE(EnqueueOne(Spec("acme")).ok());
  ASSERT_TRUE(EnqueueOne(Spec("acme")).ok());
  ASSERT_FALSE(EnqueueOne(Spec("acme")).ok());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(EnqueueOne(Spec("other")).ok()) << i;

  std::vector<LeasedTask> leased;
  while (true) {
    auto r = LeaseFrom("q");
    ASSERT_TRUE(r.ok());
    if (r->empty()) break;
    leased.push_back(std::move((*r)[0]));
  }
  ASSERT_EQ(leased.size(), 7u) << "the over-quota tenant's tasks lease as usual";
  std::optional<Result<TimeMs>> hb;
  engine_->Heartbeat(leased[0].token, 0, std::string("ckpt"), [&](auto r) { hb = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(hb.has_value() && hb->ok()) << "heartbeats (with a checkpoint) too";
  for (const LeasedTask& t : leased) {
    if (t.tenant != "acme") continue;
    EXPECT_TRUE(NackWith(t.token, NackSpec{"retry", false, TimeMs{0}}).ok()) << "nacks too";
  }
  EXPECT_EQ(Tenant("acme").queued, 2u) << "a retry is the same task";
  EXPECT_FALSE(EnqueueOne(Spec("acme")).ok());
}

// Acks, queue purges and cancels give back what they held; a dead letter
// keeps its bytes (it is on disk) but not its place in max_queued; purging
// it gives the bytes back.
TEST_F(EngineQuotaTest, UsageFallsOnAckAndPurgeAndDeadLettersKeepTheirBytes) {
  SetQuotas("acme", 2, 100);
  const TaskId a = Put(Spec("acme", std::string(40, 'a')));
  Put(Spec("acme", std::string(40, 'b')));
  EXPECT_EQ(EnqueueOne(Spec("acme")).status().code(), Code::kResourceExhausted);

  LeasedTask first = LeaseOne();
  ASSERT_EQ(first.id, a);
  ASSERT_TRUE(AckOne(first.token).ok());
  EXPECT_EQ(Tenant("acme").queued, 1u);
  EXPECT_EQ(Tenant("acme").stored_bytes, 40u);
  const TaskId c = Put(Spec("acme", std::string(40, 'c')));  // 2 of 2, 80 of 100

  LeasedTask b = LeaseOne();
  ASSERT_TRUE(NackWith(b.token, NackSpec{"poison", true, std::nullopt}).ok());  // dead letter
  EXPECT_EQ(Tenant("acme").queued, 1u) << "a dead letter is not queued";
  EXPECT_EQ(Tenant("acme").stored_bytes, 80u) << "but its bytes are stored";
  auto refused = EnqueueOne(Spec("acme", std::string(40, 'd')));
  ASSERT_EQ(refused.status().code(), Code::kResourceExhausted) << "120 > 100";
  EXPECT_TRUE(Contains(refused.status().message(), "max_bytes")) << refused.status().message();

  std::optional<Result<CancelOutcome>> cancelled;
  engine_->Cancel(c, [&](auto r) { cancelled = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(cancelled.has_value() && cancelled->ok());
  EXPECT_EQ(Tenant("acme").queued, 0u);
  EXPECT_EQ(Tenant("acme").stored_bytes, 80u) << "two dead letters";

  EXPECT_EQ(PurgeDead(), 2u);
  EXPECT_EQ(Tenant("acme").stored_bytes, 0u);
  Put(Spec("acme", std::string(40, 'e')));
  Put(Spec("acme", std::string(40, 'f')));
  std::optional<Result<uint64_t>> purged;
  engine_->PurgeQueue({"q", "acme"}, [&](auto r) { purged = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(purged.has_value() && purged->ok());
  EXPECT_EQ(**purged, 2u);
  const TenantView t = Tenant("acme");
  EXPECT_EQ(t.queued, 0u);
  EXPECT_EQ(t.stored_bytes, 0u);
  EXPECT_EQ(t.quota_refused, 2u);
}

// A lease that runs out of attempts dead-letters the task: the same rule.
TEST_F(EngineQuotaTest, ExpiryIntoTheDeadLettersKeepsTheBytesOnly) {
  SetQuotas("acme", 1, 0);
  EnqueueSpec s = Spec("acme", "12345678");
  s.max_attempts = 1;
  Put(std::move(s));
  LeaseOne();
  AdvanceAndTick(1001);  // the only attempt expires
  EXPECT_EQ(QStats().dead, 1u);
  EXPECT_EQ(Tenant("acme").queued, 0u);
  EXPECT_EQ(Tenant("acme").stored_bytes, 8u);
  EXPECT_TRUE(EnqueueOne(Spec("acme")).ok()) << "max_queued counts live tasks only";
}

// A redrive is an operator's act: not refused, and it may leave the tenant
// above max_queued; its bytes were counted all along.
TEST_F(EngineQuotaTest, RedriveIsNotRefusedAndMovesTheTaskBackToQueued) {
  SetQuotas("acme", 1, 0);
  Put(Spec("acme", "123"));
  LeasedTask t = LeaseOne();
  ASSERT_TRUE(NackWith(t.token, NackSpec{"poison", true, std::nullopt}).ok());
  Put(Spec("acme", "45"));
  std::optional<Result<uint64_t>> moved;
  engine_->Redrive(DeadFilter{}, 100, [&](auto r) { moved = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(moved.has_value() && moved->ok());
  EXPECT_EQ(**moved, 1u);
  EXPECT_EQ(Tenant("acme").queued, 2u);
  EXPECT_EQ(Tenant("acme").stored_bytes, 5u);
  EXPECT_FALSE(EnqueueOne(Spec("acme")).ok());
}

// A duplicate of a live idempotency key answers with the first task even
// when the tenant is at its quota: it adds nothing.
TEST_F(EngineQuotaTest, AnIdempotentReEnqueueIsNotRefused) {
  SetQuotas("acme", 1, 0);
  EnqueueSpec s = Spec("acme");
  s.idempotency_key = "k1";
  auto first = EnqueueOne(s);
  ASSERT_TRUE(first.ok());
  auto again = EnqueueOne(s);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->id, first->id);
  s.idempotency_key = "k2";
  EXPECT_EQ(EnqueueOne(s).status().code(), Code::kResourceExhausted) << "a new key is a new task";
  EXPECT_EQ(Tenant("acme").quota_refused, 1u);
}

// Lowering a quota below the usage touches nothing that exists: it refuses
// new tasks until acks bring the usage under it.
TEST_F(EngineQuotaTest, LoweringAQuotaBelowTheUsageOnlyRefusesNewTasks) {
  for (int i = 0; i < 4; ++i) Put(Spec("acme"));
  SetQuotas("acme", 2, 0);
  EXPECT_EQ(QStats().ready, 4u);
  EXPECT_EQ(EnqueueOne(Spec("acme")).status().code(), Code::kResourceExhausted);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(AckOne(LeaseOne().token).ok());
  EXPECT_FALSE(EnqueueOne(Spec("acme")).ok()) << "2 of 2";
  ASSERT_TRUE(AckOne(LeaseOne().token).ok());
  EXPECT_TRUE(EnqueueOne(Spec("acme")).ok());
  SetQuotas("acme", 0, 0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(EnqueueOne(Spec("acme")).ok()) << "no quota: " << i;
}

// The quotas are stored with the tenant's settings and the usage is rebuilt
// at recovery, dead letters included; a quota change keeps the other limits.
TEST_F(EngineQuotaTest, QuotasAndUsageSurviveARestart) {
  std::optional<Result<Limits>> set;
  TenantLimitsUpdate weight;
  weight.weight = 3;
  engine_->UpdateTenantLimits("acme", weight, [&](auto r) { set = std::move(r); });
  store_.Complete();
  SetQuotas("acme", 3, 1000);
  EXPECT_EQ(Tenant("acme").limits.weight, 3u) << "a quota change keeps the other limits";
  EnqueueSpec h = Spec("acme", "12345");
  h.headers = {{"traceparent", "00-1"}};  // 5 + 11 + 4 = 20 bytes
  Put(std::move(h));
  Put(Spec("acme", std::string(30, 'p')));
  Put(Spec("acme", std::string(7, 'd')));
  LeasedTask leased = LeaseOne();
  LeasedTask dies = LeaseOne();
  ASSERT_TRUE(NackWith(dies.token, NackSpec{"poison", true, std::nullopt}).ok());
  Put(Spec("other", "zz"));
  const TenantView before = Tenant("acme");
  EXPECT_EQ(before.queued, 2u);
  EXPECT_EQ(before.stored_bytes, 57u);

  Reopen();
  const TenantView after = Tenant("acme");
  EXPECT_EQ(after.limits.max_queued, 3u);
  EXPECT_EQ(after.limits.max_bytes, 1000u);
  EXPECT_EQ(after.limits.weight, 3u);
  EXPECT_EQ(after.queued, before.queued) << "the leased task is ready again, still queued";
  EXPECT_EQ(after.stored_bytes, before.stored_bytes) << "dead letter included";
  EXPECT_EQ(Tenant("other").stored_bytes, 2u);
  ASSERT_TRUE(EnqueueOne(Spec("acme")).ok());
  EXPECT_EQ(EnqueueOne(Spec("acme")).status().code(), Code::kResourceExhausted) << "3 of 3";
  EXPECT_EQ(Tenant("acme").stored_bytes, 58u);
  EXPECT_EQ(PurgeDead(), 1u);
  EXPECT_EQ(Tenant("acme").stored_bytes, 28u) << "the dead letter's 30 bytes are given back";
  ASSERT_TRUE(AckOne(LeaseOne().token).ok());
  EXPECT_TRUE(EnqueueOne(Spec("acme")).ok());
}

// Deleting a queue gives back its tasks' and dead letters' usage.
TEST_F(EngineQuotaTest, DeletingAQueueGivesItsUsageBack) {
  SetQuotas("acme", 10, 0);
  Put(Spec("acme", "1234"));
  Put(Spec("acme", "56"));
  LeasedTask t = LeaseOne();
  ASSERT_TRUE(NackWith(t.token, NackSpec{"poison", true, std::nullopt}).ok());
  std::optional<Result<QueueDeleteOutcome>> out;
  engine_->DeleteQueue("q", false, [&](auto r) { out = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(out.has_value() && out->ok()) << (out ? out->status().ToString() : "");
  EXPECT_EQ((*out)->tasks, 1u);
  EXPECT_EQ((*out)->dead_letters, 1u);
  EXPECT_EQ(Tenant("acme").queued, 0u);
  EXPECT_EQ(Tenant("acme").stored_bytes, 0u);
}

TEST_F(EngineQuotaTest, AQueueTakesNoQuota) {
  std::optional<Status> st;
  engine_->SetQueueLimits("q", Limits{.max_queued = 5}, [&](Status s) { st = s; });
  store_.Complete();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st->message(), "per tenant")) << st->message();
}

}  // namespace
}  // namespace sluice::core
