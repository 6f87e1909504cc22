// RecordCacheStore over a MemStore whose writes complete when the test says.
#include "core/record_cache_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/mem_store.h"

namespace sluice::core {
namespace {

using testing::MemStore;

std::shared_ptr<const TaskRecord> Rec(TaskId id, std::string payload, uint32_t attempts = 0) {
  auto r = std::make_shared<TaskRecord>();
  r->id = id;
  r->queue = "q";
  r->tenant = "t";
  r->payload = std::move(payload);
  r->attempts = attempts;
  return r;
}

void Put(Store& s, std::shared_ptr<const TaskRecord> rec, Status* out = nullptr) {
  WriteSet set;
  set.push_back(Mutation::PutTask(std::move(rec)));
  s.Write(std::move(set), [out](const Status& st) {
    if (out != nullptr) *out = st;
  });
}

void Delete(Store& s, TaskId id) {
  WriteSet set;
  set.push_back(Mutation::DeleteTask(id));
  s.Write(std::move(set), [](const Status&) {});
}

TEST(RecordCacheStoreTest, CompletedPutIsServedFromTheCache) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  Put(cache, Rec(1, "one"));
  // Not yet durable: not cached, and the inner store has nothing either.
  EXPECT_EQ(cache.GetTask(1).status().code(), Code::kNotFound);
  EXPECT_EQ(cache.cached_records(), 0u);
  mem.Complete();
  auto r = cache.GetTask(1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->payload, "one");
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(RecordCacheStoreTest, ANewerWriteInFlightDropsTheEntry) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  Put(cache, Rec(1, "p", 0));
  mem.Complete();
  Put(cache, Rec(1, "p", 1));
  EXPECT_EQ(cache.cached_records(), 0u);
  // Reads go to the inner store meanwhile (the Store read contract).
  EXPECT_EQ(cache.GetTask(1)->attempts, 0u);
  mem.Complete();
  EXPECT_EQ(cache.GetTask(1)->attempts, 1u);
  EXPECT_EQ(cache.hits(), 1u);
}

// MemStore::Complete() runs the callbacks in submission order, so the first
// Put's completion comes while the second is still in flight: it must not
// cache its (already superseded) record.
TEST(RecordCacheStoreTest, AnOlderCompletionDoesNotCacheOverANewerWriteInFlight) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  Put(cache, Rec(1, "p", 0));
  mem.Complete();  // attempts 0 cached
  Put(cache, Rec(1, "p", 1));
  Put(cache, Rec(1, "p", 2));
  EXPECT_EQ(cache.cached_records(), 0u);
  mem.Complete();
  EXPECT_EQ(cache.cached_records(), 1u);
  EXPECT_EQ(cache.GetTask(1)->attempts, 2u);
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(RecordCacheStoreTest, FailedWriteIsNotCached) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  mem.FailNext(1);
  Status st;
  Put(cache, Rec(1, "lost"), &st);
  mem.Complete();
  EXPECT_EQ(st.code(), Code::kNoSpace);
  EXPECT_EQ(cache.cached_records(), 0u);
  EXPECT_EQ(cache.GetTask(1).status().code(), Code::kNotFound);
}

TEST(RecordCacheStoreTest, DeleteDropsTheEntry) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  Put(cache, Rec(1, "x"));
  mem.Complete();
  ASSERT_EQ(cache.cached_records(), 1u);
  Delete(cache, 1);
  EXPECT_EQ(cache.cached_records(), 0u);
  EXPECT_EQ(cache.cached_bytes(), 0u);
  mem.Complete();
  EXPECT_EQ(cache.GetTask(1).status().code(), Code::kNotFound);
}

TEST(RecordCacheStoreTest, PutThenDeleteInOneSetLeavesNothing) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  WriteSet set;
  set.push_back(Mutation::PutTask(Rec(1, "x")));
  set.push_back(Mutation::DeleteTask(1));
  cache.Write(std::move(set), [](const Status&) {});
  mem.Complete();
  EXPECT_EQ(cache.cached_records(), 0u);
  EXPECT_EQ(cache.GetTask(1).status().code(), Code::kNotFound);
}

TEST(RecordCacheStoreTest, TheBudgetEvictsTheOldestFirst) {
  MemStore mem;
  const std::string payload(1000, 'p');
  const size_t budget = 3 * (1000 + sizeof(TaskRecord) + 100);
  RecordCacheStore cache(mem, budget);
  for (TaskId id = 1; id <= 10; ++id) Put(cache, Rec(id, payload));
  mem.Complete();
  EXPECT_EQ(cache.cached_records(), 3u);
  EXPECT_LE(cache.cached_bytes(), budget);
  EXPECT_EQ(cache.evictions(), 7u);
  for (TaskId id = 1; id <= 10; ++id) ASSERT_TRUE(cache.GetTask(id).ok());
  EXPECT_EQ(cache.hits(), 3u);  // tasks 8-10
  EXPECT_EQ(cache.misses(), 7u);
  // A deleted entry leaves room: the next write evicts nothing.
  Delete(cache, 9);
  Put(cache, Rec(11, payload));
  mem.Complete();
  EXPECT_EQ(cache.cached_records(), 3u);
  EXPECT_EQ(cache.evictions(), 7u);
  // Then 8 is the oldest left.
  Put(cache, Rec(12, payload));
  mem.Complete();
  EXPECT_EQ(cache.evictions(), 8u);
  const uint64_t hits = cache.hits();
  ASSERT_TRUE(cache.GetTask(8).ok());
  EXPECT_EQ(cache.hits(), hits);  // a miss: evicted
  ASSERT_TRUE(cache.GetTask(12).ok());
  EXPECT_EQ(cache.hits(), hits + 1);
}

// Records that leave by Delete leave elements behind in the eviction order;
// they are compacted away, and the cache stays consistent.
TEST(RecordCacheStoreTest, ManyPutDeleteCyclesStayBounded) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  for (TaskId id = 1; id <= 20'000; ++id) {
    Put(cache, Rec(id, "x"));
    mem.Complete();
    ASSERT_TRUE(cache.GetTask(id).ok());
    Delete(cache, id);
    mem.Complete();
  }
  EXPECT_EQ(cache.cached_records(), 0u);
  EXPECT_EQ(cache.cached_bytes(), 0u);
  EXPECT_EQ(cache.hits(), 20'000u);
  EXPECT_EQ(cache.evictions(), 0u);
  EXPECT_LE(cache.order_entries(), 1025u);
}

TEST(RecordCacheStoreTest, ZeroBudgetPassesEverythingThrough) {
  MemStore mem;
  RecordCacheStore cache(mem, 0);
  Put(cache, Rec(1, "x"));
  mem.Complete();
  EXPECT_EQ(cache.cached_records(), 0u);
  EXPECT_TRUE(cache.GetTask(1).ok());
  EXPECT_EQ(cache.hits(), 0u);
}

TEST(RecordCacheStoreTest, WriteNowDropsTheEntry) {
  MemStore mem;
  RecordCacheStore cache(mem, 1 << 20);
  Put(cache, Rec(1, "p", 0));
  mem.Complete();
  WriteSet set;
  set.push_back(Mutation::PutTask(Rec(1, "p", 5)));
  ASSERT_TRUE(cache.WriteNow(std::move(set)).ok());
  EXPECT_EQ(cache.GetTask(1)->attempts, 5u);
}

}  // namespace
}  // namespace sluice::core
