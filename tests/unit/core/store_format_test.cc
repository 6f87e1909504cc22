// The store-format marker the engine checks and writes at open
// (core/meta_format.h, Engine::Recover).
#include <gtest/gtest.h>

#include <string>

#include "core/engine.h"
#include "core/meta_format.h"
#include "support/mem_store.h"

namespace sluice::core {
namespace {

using testing::MemStore;

class StoreFormatTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Engine>> Open() { return Engine::Open(store_, clock_, EngineOptions{}); }
  void PutMeta(std::string_view key, std::string value) {
    ASSERT_TRUE(store_
                    .WriteNow({Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(key),
                                                  std::move(value))})
                    .ok());
  }

  MemStore store_;
  ManualClock clock_;
};

TEST_F(StoreFormatTest, AFreshStoreGetsTheCurrentFormat) {
  ASSERT_EQ(store_.GetMeta(kFormatKey).status().code(), Code::kNotFound);
  auto engine = Open();
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto format = store_.GetMeta(kFormatKey);
  ASSERT_TRUE(format.ok()) << format.status().ToString();
  EXPECT_EQ(*format, std::to_string(kStoreFormat));
  EXPECT_EQ(*format, "2");
}

// A store an earlier build wrote: an epoch and a high-water mark, no marker.
TEST_F(StoreFormatTest, AStoreWithoutTheMarkerOpensAndGetsIt) {
  PutMeta(kEpochKey, "6");
  PutMeta(kNextIdKey, "100");
  auto engine = Open();
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->epoch(), 7u);
  EXPECT_EQ(*store_.GetMeta(kFormatKey), std::to_string(kStoreFormat));
  // And opens again with it.
  engine->reset();
  auto again = Open();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->epoch(), 8u);
}

// Format 1 (before lease markers and version-2 task values) opens and is
// marked 2 in the same write as the new epoch; nothing else is rewritten.
TEST_F(StoreFormatTest, AFormatOneStoreIsMarkedTwoAtOpen) {
  PutMeta(kFormatKey, "1");
  PutMeta(kEpochKey, "6");
  auto engine = Open();
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ(*store_.GetMeta(kFormatKey), "2");
  EXPECT_EQ(*store_.GetMeta(kEpochKey), "7");
}

TEST_F(StoreFormatTest, AStoreOfANewerFormatIsRefusedAndLeftAlone) {
  PutMeta(kFormatKey, "999");
  PutMeta(kEpochKey, "6");
  auto engine = Open();
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(engine.status().message(),
            "the store was written by a newer sluice (format 999, this build reads up to " +
                std::to_string(kStoreFormat) + "); use a newer sluiced");
  // Nothing was written: the newer build still finds its own store.
  EXPECT_EQ(*store_.GetMeta(kFormatKey), "999");
  EXPECT_EQ(*store_.GetMeta(kEpochKey), "6");
}

TEST_F(StoreFormatTest, AMarkerThatIsNotANumberIsCorruption) {
  PutMeta(kFormatKey, "one");
  auto engine = Open();
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), Code::kCorruption);
  EXPECT_NE(engine.status().message().find("format"), std::string::npos);
}

}  // namespace
}  // namespace sluice::core
