#include "core/lease_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace sluice::core {
namespace {

LeaseInfo Info(std::string worker, TimeMs started, TimeMs deadline) {
  LeaseInfo info;
  info.worker = std::move(worker);
  info.started_ms = started;
  info.deadline_ms = deadline;
  info.lease_ms = 10;
  return info;
}

TEST(LeaseTableTest, AddGetRemoveReusesHandles) {
  LeaseTable t;
  auto a = t.Add(Info("w1", 10, 20));
  auto b = t.Add(Info("w2", 11, 21));
  EXPECT_NE(a, b);
  EXPECT_EQ(t.Get(a).worker, "w1");
  EXPECT_EQ(t.Get(b).deadline_ms, 21);
  EXPECT_EQ(t.size(), 2u);
  t.Remove(a);
  EXPECT_EQ(t.size(), 1u);
  auto c = t.Add(Info("w3", 12, 22));
  EXPECT_EQ(c, a) << "a freed handle is reused";
  EXPECT_EQ(t.Get(c).worker, "w3");
  EXPECT_EQ(t.Get(b).worker, "w2") << "other leases untouched";
}

TEST(LeaseTableTest, ForEachLiveVisitsExactlyTheLeasesHeld) {
  LeaseTable t;
  auto a = t.Add(Info("w1", 10, 20));
  t.Add(Info("w2", 11, 21));
  t.Add(Info("w3", 12, 22));
  t.Remove(a);
  std::vector<std::string> seen;
  t.ForEachLive([&](const LeaseInfo& info) { seen.push_back(info.worker); });
  EXPECT_EQ(seen, (std::vector<std::string>{"w2", "w3"}));
}

TEST(LeaseTableTest, MatchesReferenceModel) {
  const uint64_t seed = 7;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  LeaseTable t;
  std::map<LeaseTable::Handle, LeaseInfo> ref;
  for (int op = 0; op < 50'000; ++op) {
    if (ref.empty() || rng() % 2 == 0) {
      LeaseInfo info = Info("w" + std::to_string(op), op, op + 100);
      auto h = t.Add(info);
      ASSERT_EQ(ref.count(h), 0u) << "handle " << h << " handed out twice";
      ref[h] = info;
    } else {
      auto it = std::next(ref.begin(), static_cast<long>(rng() % ref.size()));
      EXPECT_EQ(t.Get(it->first).worker, it->second.worker);
      EXPECT_EQ(t.Get(it->first).deadline_ms, it->second.deadline_ms);
      t.Remove(it->first);
      ref.erase(it);
    }
    ASSERT_EQ(t.size(), ref.size());
  }
}

}  // namespace
}  // namespace sluice::core
