// crash_child: the process that crash_sigkill_test kills.
//
//   crash_child <dir> <seed> <first_seq>
//
// Opens Engine + RocksStore (sync mode) on <dir> and runs a seeded workload of
// enqueue batches, leases and acks forever, with many requests in flight (so
// group commits hold several of them). It writes one line per event to
// stdout with write(2) (no buffering), in this order:
//
//   pending enqueue <seq>        before the enqueue holding payload <seq> is sent
//   acked enqueue <seq> <id>     after its callback reported OK
//   pending ack <id>             before the ack of task <id> is sent
//   acked ack <id>               after its callback reported OK
//   failed <what> <status>       a request failed (the parent fails the test)
//   ready                        after the store and engine are open
//
// Payloads carry their sequence number (crash_support.h); sequence numbers
// start at <first_seq>, so the parent keeps them unique across restarts.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/engine.h"
#include "crash/crash_support.h"
#include "store/rocks_store.h"

namespace sluice::crashtest {
namespace {

// Writes the whole line with one write(2) call where possible, so it is in
// the pipe before the next request goes out.
void Emit(const std::string& line) {
  std::string s = line + "\n";
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) std::_Exit(3);  // the parent is gone
    p += n;
    left -= static_cast<size_t>(n);
  }
}

int Run(const std::string& dir, uint64_t seed, uint64_t first_seq) {
  Poster poster;
  store::StoreOptions so;
  so.dir = dir;
  so.durability = core::Durability::kSync;
  so.post = poster.PostFn();
  // Logs on zeroed spares (store/wal_prealloc_fs.h), as sluiced runs them:
  // by seed a spare the log stays inside for a while, or one it soon
  // outgrows; a restart with the other size finds the last run's spare unfit.
  so.wal_spare_bytes = seed % 2 == 0 ? (1u << 20) : (64u << 10);
  auto store = store::RocksStore::Open(std::move(so));
  if (!store.ok()) {
    Emit("failed open-store " + store.status().ToString());
    return 1;
  }
  SystemClock clock;
  core::EngineOptions eo;
  eo.seed = seed;
  eo.default_lease_ms = 600'000;
  auto engine_or = core::Engine::Open(**store, clock, eo);
  if (!engine_or.ok()) {
    Emit("failed open-engine " + engine_or.status().ToString());
    return 1;
  }
  core::Engine& engine = **engine_or;
  Emit("ready");

  std::mt19937_64 rng(seed);
  uint64_t seq = first_seq;
  int inflight = 0;
  for (;;) {
    engine.Tick();
    const uint64_t r = rng() % 10;
    if (r < 5) {
      // An enqueue batch.
      const size_t n = 1 + rng() % 8;
      std::vector<core::EnqueueSpec> specs;
      std::vector<uint64_t> seqs;
      for (size_t i = 0; i < n; ++i) {
        core::EnqueueSpec s;
        s.queue = "q";
        s.tenant = (rng() % 2) ? "t1" : "t2";
        s.priority = static_cast<uint8_t>(rng() % 8);
        s.payload = MakePayload(seq, 32 + rng() % 300);
        Emit("pending enqueue " + std::to_string(seq));
        seqs.push_back(seq++);
        specs.push_back(std::move(s));
      }
      ++inflight;
      engine.Enqueue(std::move(specs),
                     [&inflight, seqs](std::vector<Result<core::EnqueueOutcome>> res) {
                       --inflight;
                       for (size_t i = 0; i < res.size(); ++i) {
                         if (res[i].ok()) {
                           Emit("acked enqueue " + std::to_string(seqs[i]) + " " +
                                std::to_string(res[i]->id));
                         } else {
                           Emit("failed enqueue " + res[i].status().ToString());
                         }
                       }
                     });
    } else {
      // Lease some tasks (served at once) and ack most of them.
      core::LeaseRequest req;
      req.queue = "q";
      req.max_tasks = 1 + static_cast<uint32_t>(rng() % 8);
      req.worker = "child";
      std::vector<core::LeasedTask> leased;
      engine.Lease(req, [&](Result<std::vector<core::LeasedTask>> res) {
        if (res.ok()) {
          leased = std::move(*res);
        } else {
          Emit("failed lease " + res.status().ToString());
        }
      });
      std::vector<core::LeaseToken> tokens;
      for (const auto& t : leased) {
        if (rng() % 8 == 0) continue;  // left leased: comes back after a restart
        Emit("pending ack " + std::to_string(t.id));
        tokens.push_back(t.token);
      }
      if (!tokens.empty()) {
        ++inflight;
        engine.Ack(tokens, [&inflight, tokens](std::vector<Status> res) {
          --inflight;
          for (size_t i = 0; i < res.size(); ++i) {
            if (res[i].ok()) {
              Emit("acked ack " + std::to_string(tokens[i].task_id));
            } else {
              Emit("failed ack " + res[i].ToString());
            }
          }
        });
      }
    }
    poster.RunPending();
    if (inflight >= 32) poster.RunUntil([&] { return inflight < 8; });
  }
}

}  // namespace
}  // namespace sluice::crashtest

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_child <dir> <seed> <first_seq>\n");
    return 2;
  }
  return sluice::crashtest::Run(argv[1], std::strtoull(argv[2], nullptr, 10),
                                std::strtoull(argv[3], nullptr, 10));
}
