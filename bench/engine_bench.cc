// Engine in-process (no network), 256-byte payloads.
//
//   BM_RocksBaseline/<window>/<sync>  bare RocksDB: per window of W tasks, one
//                                     WriteBatch of W puts + one of W deletes,
//                                     each one DB::Write (synced when sync=1):
//                                     two writes per task, grouped like the engine
//   BM_EngineLifecycle/<window>/<sync> the engine: W enqueues (group committed),
//                                     lease W, W acks (group committed)
//   BM_IndexBytesPerTask              in-memory index bytes per queued task
//                                     (heap delta of Engine::Open over 1M tasks)
//   BM_RestartMillionTasks            Engine::Open over a RocksDB with 1M tasks
//
// items_per_second = full lifecycles per second. Run with
//   build/bench/engine_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// and compare the medians of the same run (docs/performance.md).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "core/engine.h"
#include "store/rocks_store.h"
#include "support/loop_poster.h"
#include "support/mem_store.h"

namespace sluice::bench {
namespace {

using testing::LoopPoster;

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("sluice-bench-" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::string Key(uint64_t id) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[static_cast<size_t>(i)] = static_cast<char>(id & 0xff);
    id >>= 8;
  }
  return k;
}

void BM_RocksBaseline(benchmark::State& state) {
  const auto window = static_cast<uint64_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  std::string dir = TempDir("baseline");
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) {
    state.SkipWithError("cannot open rocksdb");
    return;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  std::string payload(256, 'x');
  uint64_t id = 1;
  for (auto _ : state) {
    rocksdb::WriteBatch puts;
    rocksdb::WriteBatch dels;
    for (uint64_t i = 0; i < window; ++i, ++id) {
      std::string k = Key(id);
      (void)puts.Put(k, payload);
      (void)dels.Delete(k);
    }
    if (!db->Write(wo, &puts).ok() || !db->Write(wo, &dels).ok()) {
      state.SkipWithError("write failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * window));
  db.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RocksBaseline)->ArgsProduct({{1, 64}, {1, 0}})->UseRealTime()->MinTime(2.0);

void BM_EngineLifecycle(benchmark::State& state) {
  const auto window = static_cast<size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  std::string dir = TempDir("engine");
  LoopPoster loop;
  store::StoreOptions so;
  so.dir = dir;
  so.durability = sync ? core::Durability::kSync : core::Durability::kAsync;
  so.post = loop.PostFn();
  auto store = store::RocksStore::Open(so);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  SystemClock clock;
  auto engine = core::Engine::Open(**store, clock, core::EngineOptions{});
  if (!engine.ok()) {
    state.SkipWithError(engine.status().ToString().c_str());
    return;
  }
  core::Engine& e = **engine;
  std::string payload(256, 'x');
  core::LeaseRequest lease;
  lease.queue = "bench";
  lease.max_tasks = static_cast<uint32_t>(window);
  lease.worker = "bench";
  for (auto _ : state) {
    size_t enqueued = 0;
    for (size_t i = 0; i < window; ++i) {
      core::EnqueueSpec spec;
      spec.queue = "bench";
      spec.payload = payload;
      e.Enqueue({std::move(spec)}, [&](auto r) {
        if (r[0].ok()) ++enqueued;
      });
    }
    loop.RunUntil([&] { return enqueued == window; });
    std::vector<core::LeaseToken> tokens;
    e.Lease(lease, [&](auto r) {
      for (auto& t : *r) tokens.push_back(t.token);
    });
    if (tokens.size() != window) {
      state.SkipWithError("lease returned too few tasks");
      break;
    }
    size_t acked = 0;
    for (const auto& t : tokens) {
      e.Ack({t}, [&](auto r) {
        if (r[0].ok()) ++acked;
      });
    }
    loop.RunUntil([&] { return acked == window; });
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * window));
  engine->reset();
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EngineLifecycle)->ArgsProduct({{1, 64}, {1, 0}})->UseRealTime()->MinTime(2.0);

// Fills a RocksStore with `n` queued tasks through the engine (async mode).
void Fill(const std::string& dir, size_t n) {
  LoopPoster loop;
  store::StoreOptions so;
  so.dir = dir;
  so.durability = core::Durability::kAsync;
  so.post = loop.PostFn();
  auto store = store::RocksStore::Open(so);
  SystemClock clock;
  auto engine = core::Engine::Open(**store, clock, core::EngineOptions{});
  std::string payload(256, 'x');
  size_t done = 0;
  for (size_t i = 0; i < n; i += 1000) {
    std::vector<core::EnqueueSpec> specs(1000);
    for (size_t j = 0; j < specs.size(); ++j) {
      specs[j].queue = "q" + std::to_string(j % 4);
      specs[j].tenant = "t" + std::to_string(j % 16);
      specs[j].payload = payload;
    }
    (*engine)->Enqueue(std::move(specs), [&](auto r) { done += r.size(); });
    if (i % 50'000 == 0) loop.RunUntil([&] { return done == i + 1000; });
  }
  loop.RunUntil([&] { return done >= n; });
}

void BM_RestartMillionTasks(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  std::string dir = TempDir("restart");
  Fill(dir, n);
  for (auto _ : state) {
    LoopPoster loop;
    store::StoreOptions so;
    so.dir = dir;
    so.post = loop.PostFn();
    auto t0 = std::chrono::steady_clock::now();
    auto store = store::RocksStore::Open(so);
    SystemClock clock;
    auto engine = core::Engine::Open(**store, clock, core::EngineOptions{});
    auto t1 = std::chrono::steady_clock::now();
    if (!engine.ok()) {
      state.SkipWithError(engine.status().ToString().c_str());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    state.counters["tasks"] = static_cast<double>((*engine)->Stats().tasks_in_memory);
    auto stats = (*engine)->Stats();
    state.counters["index_bytes_per_task"] =
        static_cast<double>(stats.index_bytes) / static_cast<double>(stats.tasks_in_memory);
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RestartMillionTasks)->Arg(1'000'000)->UseManualTime()->Iterations(1)->Unit(
    benchmark::kMillisecond);

// Heap bytes the engine holds per queued task, measured (not estimated): the
// malloc-reported in-use delta across Engine::Open over an in-memory store of
// `n` tasks (16 tenants, 4 queues). MemStore's scan allocates nothing, so
// the delta is the engine's index: slab, id map, scheduler lanes, aging.
void BM_IndexBytesPerTask(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  testing::MemStore mem;
  {
    core::WriteSet set;
    for (uint64_t id = 1; id <= n; ++id) {
      auto rec = std::make_shared<core::TaskRecord>();
      rec->id = id;
      rec->queue = "q" + std::to_string(id % 4);
      rec->tenant = "t" + std::to_string(id % 16);
      rec->payload = std::string(256, 'x');
      rec->enqueued_ms = 1;
      set.push_back(core::Mutation::PutTask(std::move(rec)));
    }
    (void)mem.WriteNow(std::move(set));
  }
  for (auto _ : state) {
    malloc_trim(0);
    size_t before = mallinfo2().uordblks;
    SystemClock clock;
    auto engine = core::Engine::Open(mem, clock, core::EngineOptions{});
    size_t after = mallinfo2().uordblks;
    state.counters["heap_bytes_per_task"] =
        static_cast<double>(after - before) / static_cast<double>(n);
    state.counters["estimated_bytes_per_task"] =
        static_cast<double>((*engine)->Stats().index_bytes) / static_cast<double>(n);
  }
}
BENCHMARK(BM_IndexBytesPerTask)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench
