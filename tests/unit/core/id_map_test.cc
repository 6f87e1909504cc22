#include "core/id_map.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace sluice::core {
namespace {

TEST(IdMapTest, PutFindEraseBasics) {
  IdMap m;
  EXPECT_FALSE(m.Find(1).has_value());
  m.Put(1, 10);
  m.Put(2, 20);
  EXPECT_EQ(m.Find(1), 10u);
  EXPECT_EQ(m.Find(2), 20u);
  m.Put(1, 11);  // overwrite
  EXPECT_EQ(m.Find(1), 11u);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.Erase(1));
  EXPECT_FALSE(m.Erase(1));
  EXPECT_FALSE(m.Find(1).has_value());
  EXPECT_EQ(m.Find(2), 20u);
  EXPECT_EQ(m.size(), 1u);
}

// Random puts and erases against std::unordered_map, including long runs of
// sequential ids (the engine's pattern) that stress backward-shift deletion.
TEST(IdMapTest, MatchesReferenceModel) {
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    IdMap m;
    std::unordered_map<uint64_t, uint32_t> ref;
    uint64_t next = 1;
    for (int op = 0; op < 200'000; ++op) {
      uint64_t r = rng() % 10;
      if (r < 5) {
        uint64_t key = (rng() % 4 == 0) ? 1 + rng() % (next + 1) : next++;
        auto val = static_cast<uint32_t>(rng());
        m.Put(key, val);
        ref[key] = val;
      } else if (!ref.empty()) {
        uint64_t key = 1 + rng() % next;
        EXPECT_EQ(m.Erase(key), ref.erase(key) == 1) << "key " << key;
      }
      if (op % 1000 == 0) {
        ASSERT_EQ(m.size(), ref.size());
        for (const auto& [k, v] : ref) ASSERT_EQ(m.Find(k), v) << "key " << k;
      }
    }
    for (uint64_t k = 1; k <= next; ++k) {
      auto it = ref.find(k);
      if (it == ref.end()) {
        EXPECT_FALSE(m.Find(k).has_value()) << "key " << k;
      } else {
        EXPECT_EQ(m.Find(k), it->second);
      }
    }
  }
}

TEST(IdMapTest, TwelveBytesPerBucket) {
  IdMap m;
  for (uint64_t k = 1; k <= 100'000; ++k) m.Put(k, static_cast<uint32_t>(k));
  // Load factor stays between 0.35 and 0.7: at most 12 / 0.35 ~ 35 bytes per entry.
  EXPECT_LE(m.MemoryBytes() / m.size(), 35u);
}

}  // namespace
}  // namespace sluice::core
