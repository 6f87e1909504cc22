#include "core/lease_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace sluice::core {
namespace {

TEST(LeaseTableTest, AddGetRemoveReusesHandles) {
  LeaseTable t;
  auto a = t.Add({"w1", 10, 20, 10, {}});
  auto b = t.Add({"w2", 11, 21, 10, {}});
  EXPECT_NE(a, b);
  EXPECT_EQ(t.Get(a).worker, "w1");
  EXPECT_EQ(t.Get(b).deadline_ms, 21);
  EXPECT_EQ(t.size(), 2u);
  t.Remove(a);
  EXPECT_EQ(t.size(), 1u);
  auto c = t.Add({"w3", 12, 22, 10, {}});
  EXPECT_EQ(c, a) << "a freed handle is reused";
  EXPECT_EQ(t.Get(c).worker, "w3");
  EXPECT_EQ(t.Get(b).worker, "w2") << "other leases untouched";
}

TEST(LeaseTableTest, MatchesReferenceModel) {
  const uint64_t seed = 7;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  LeaseTable t;
  std::map<LeaseTable::Handle, LeaseInfo> ref;
  for (int op = 0; op < 50'000; ++op) {
    if (ref.empty() || rng() % 2 == 0) {
      LeaseInfo info{"w" + std::to_string(op), op, op + 100, 100, {}};
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
