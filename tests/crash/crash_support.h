// Shared pieces of the crash tests: a loop poster (the engine's thread), the
// seed helper, payload encoding, and a read of everything a store holds (and
// its keys for the oracle, tests/support/crash_oracle.h).
//
// Seeds: every randomized crash test takes its seed from TestSeed(), which
// prints it and honours SLUICE_SEED=<n> so a failing run can be replayed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/store.h"
#include "support/crash_oracle.h"
#include "support/loop_poster.h"

namespace sluice::crashtest {

using Poster = testing::LoopPoster;  // tests/support/loop_poster.h

// The seed of a randomized test: SLUICE_SEED if set, else `fallback`. Printed
// so that the log of any run says how to replay it.
inline uint64_t TestSeed(const char* test_name, uint64_t fallback) {
  uint64_t seed = fallback;
  if (const char* env = std::getenv("SLUICE_SEED"); env != nullptr && *env != '\0') {
    seed = std::strtoull(env, nullptr, 10);
  }
  std::fprintf(stderr, "[seed] %s: SLUICE_SEED=%llu\n", test_name,
               static_cast<unsigned long long>(seed));
  return seed;
}

// Payloads carry the oracle's sequence number (tests/support/crash_oracle.h).
inline std::string MakePayload(uint64_t seq, size_t size = 64) {
  return testing::PayloadFor(static_cast<int64_t>(seq), size);
}
inline int64_t ParsePayload(std::string_view payload) { return testing::KeyOfPayload(payload); }

// What a store holds, by payload sequence number.
struct DiskTask {
  core::TaskId id = 0;
  bool dead = false;
  core::TaskRecord record;  // the live record, or the dead record's task
  std::map<std::string, std::string> journal;
};
struct DiskState {
  std::map<int64_t, DiskTask> by_seq;
  // Problems found while reading (foreign payloads, a seq stored twice).
  std::string errors;
};

// Reads every live and dead task of `store` with its journal.
inline DiskState ReadDisk(core::Store& store) {
  DiskState out;
  auto add = [&](core::TaskRecord rec, bool dead) {
    int64_t seq = ParsePayload(rec.payload);
    if (seq < 0) {
      out.errors += "task " + std::to_string(rec.id) + " has a foreign payload\n";
      return;
    }
    DiskTask t;
    t.id = rec.id;
    t.dead = dead;
    Status js = store.ScanJournal(rec.id, [&](std::string_view k, std::string_view v) {
      t.journal.emplace(std::string(k), std::string(v));
      return true;
    });
    if (!js.ok()) out.errors += "ScanJournal: " + js.ToString() + "\n";
    t.record = std::move(rec);
    auto [it, inserted] = out.by_seq.emplace(seq, std::move(t));
    if (!inserted) {
      out.errors += "seq " + std::to_string(seq) + " stored twice (ids " +
                    std::to_string(it->second.id) + ")\n";
    }
  };
  std::vector<core::TaskId> ids;
  Status s = store.ScanTaskSummaries([&](const core::TaskSummary& sum) {
    ids.push_back(sum.id);
    return true;
  });
  if (!s.ok()) out.errors += "ScanTaskSummaries: " + s.ToString() + "\n";
  for (core::TaskId id : ids) {
    auto rec = store.GetTask(id);
    if (!rec.ok()) {
      out.errors += "GetTask(" + std::to_string(id) + "): " + rec.status().ToString() + "\n";
      continue;
    }
    add(std::move(*rec), false);
  }
  s = store.ScanDead(0, [&](const core::DeadRecord& d) {
    add(d.task, true);
    return true;
  });
  if (!s.ok()) out.errors += "ScanDead: " + s.ToString() + "\n";
  return out;
}

// The tasks `disk` holds as the crash oracle's view: payload seq -> task id.
inline std::map<int64_t, uint64_t> PresentIds(const DiskState& disk) {
  std::map<int64_t, uint64_t> out;
  for (const auto& [seq, d] : disk.by_seq) out.emplace(seq, d.id);
  return out;
}

}  // namespace sluice::crashtest
