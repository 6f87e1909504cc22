// TenantQuotas on its own: the bookkeeping of core/tenant_quotas.h.
#include "core/tenant_quotas.h"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

TEST(TenantQuotasTest, ReserveCountsPendingAndRefusesPastEitherQuota) {
  TenantQuotas q;
  EXPECT_FALSE(q.any());
  q.SetQuotas(2, 2, 100);
  EXPECT_TRUE(q.any());
  EXPECT_TRUE(q.Limited(2));
  EXPECT_FALSE(q.Limited(0));
  EXPECT_FALSE(q.Limited(99));
  ASSERT_TRUE(q.Reserve(2, "acme", 60).ok());
  EXPECT_EQ(q.Reserve(2, "acme", 41).code(), Code::kResourceExhausted) << "101 > 100";
  ASSERT_TRUE(q.Reserve(2, "acme", 40).ok()) << "100 of 100";
  EXPECT_EQ(q.Reserve(2, "acme", 0).code(), Code::kResourceExhausted) << "3 > 2 tasks";
  TenantUsage u = q.Of(2);
  EXPECT_EQ(u.pending_queued, 2u);
  EXPECT_EQ(u.pending_bytes, 100u);
  EXPECT_EQ(u.refused, 2u);
  EXPECT_EQ(u.queued, 0u);

  q.Unreserve(2, 60);
  q.AddLive(2, 60);
  q.Unreserve(2, 40);  // that write failed
  u = q.Of(2);
  EXPECT_EQ(u.pending_queued + u.pending_bytes, 0u);
  EXPECT_EQ(u.queued, 1u);
  EXPECT_EQ(u.bytes, 60u);
}

TEST(TenantQuotasTest, LiveAndDeadTransitionsMoveQueuedAndBytesAsDocumented) {
  TenantQuotas q;
  q.AddLive(0, 10);
  q.AddLive(0, 5);
  q.RemoveLive(0, 10);  // to dead letter ...
  q.AddDead(0, 10);
  EXPECT_EQ(q.Of(0).queued, 1u);
  EXPECT_EQ(q.Of(0).bytes, 15u);
  q.RemoveDead(0, 10);  // ... redriven
  q.AddLive(0, 10);
  EXPECT_EQ(q.Of(0).queued, 2u);
  EXPECT_EQ(q.Of(0).bytes, 15u);
  q.RemoveLive(0, 10);  // acked
  q.RemoveLive(0, 5);
  EXPECT_EQ(q.Of(0).queued, 0u);
  EXPECT_EQ(q.Of(0).bytes, 0u);
}

TEST(TenantQuotasTest, ClearingTheLastQuotaTurnsTheCheckOff) {
  TenantQuotas q;
  q.SetQuotas(1, 0, 5);
  q.SetQuotas(3, 7, 0);
  q.SetQuotas(1, 0, 9);  // still limited: counted once
  q.SetQuotas(1, 0, 0);
  EXPECT_TRUE(q.any());
  q.SetQuotas(3, 0, 0);
  EXPECT_FALSE(q.any());
  q.SetQuotas(3, 0, 0);
  EXPECT_FALSE(q.any());
  EXPECT_TRUE(q.Reserve(1, "x", 1000).ok()) << "no quota: admitted";
}

}  // namespace
}  // namespace sluice::core
