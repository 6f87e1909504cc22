// (b) Real SIGKILL: crash_child (tests/crash/crash_child.cc) runs Engine +
// RocksStore in sync mode under a seeded load and reports every request as
// pending before it is sent and acknowledged after its callback. This test
// kills it with SIGKILL at seeded moments, then opens the store itself
// (read-only) and checks the oracle:
//   - every acknowledged enqueue is present (live or dead) unless an ack of it
//     was sent (a pending ack may go either way);
//   - every acknowledged ack is absent;
//   - nothing is present that was never sent, and no payload is stored twice.
// Then the child is restarted on the same directory. SLUICE_SEED replays.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "crash/crash_support.h"
#include "store/rocks_store.h"
#include "support/crash_oracle.h"
#include "support/scoped_temp_dir.h"

#ifndef SLUICE_CRASH_CHILD
#error "SLUICE_CRASH_CHILD must name the crash_child binary"
#endif

namespace sluice::crashtest {
namespace {

using core::TaskId;

// The oracle (tests/support/crash_oracle.h), fed from the child's lines:
// "pending enqueue SEQ", "acked enqueue SEQ ID", "pending ack ID", "acked ack
// ID", and "failed ..." for a request the child saw fail.
struct ChildLog {
  testing::CrashOracle oracle;
  std::vector<std::string> failures;  // "failed ..." lines

  void Apply(const std::string& line) {
    std::istringstream in(line);
    std::string a, b;
    in >> a >> b;
    if (a == "pending" && b == "enqueue") {
      int64_t seq = 0;
      in >> seq;
      oracle.EnqueuePending(seq);
    } else if (a == "acked" && b == "enqueue") {
      int64_t seq = 0;
      TaskId id = 0;
      in >> seq >> id;
      EXPECT_TRUE(oracle.EnqueueAcked(seq, id)) << "acked before pending: " << line;
    } else if (a == "pending" && b == "ack") {
      TaskId id = 0;
      in >> id;
      oracle.AckPending(id);
    } else if (a == "acked" && b == "ack") {
      TaskId id = 0;
      in >> id;
      oracle.AckAcked(id);
    } else if (a == "failed") {
      failures.push_back(line);
    }
  }
};

// One run of the child: started, read until `kill_after_lines` lines (or
// `max_ms`), SIGKILLed, then read to EOF (lines written before the kill are
// facts) and reaped.
struct RunResult {
  size_t lines = 0;
  bool saw_ready = false;
  bool exited_by_kill = false;
};

RunResult RunChild(const std::string& dir, uint64_t seed, uint64_t first_seq,
                   size_t kill_after_lines, int max_ms, ChildLog* log) {
  RunResult res;
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return res;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string s = std::to_string(seed);
    std::string f = std::to_string(first_seq);
    execl(SLUICE_CRASH_CHILD, SLUICE_CRASH_CHILD, dir.c_str(), s.c_str(), f.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string buf;
  bool killed = false;
  auto start = std::chrono::steady_clock::now();
  auto consume = [&] {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line == "ready") {
        res.saw_ready = true;
        start = std::chrono::steady_clock::now();  // the time cap counts from here
      }
      log->Apply(line);
      ++res.lines;
    }
  };
  for (;;) {
    if (!killed) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count();
      if (res.saw_ready && (res.lines >= kill_after_lines || ms >= max_ms)) {
        kill(pid, SIGKILL);
        killed = true;
      }
    }
    pollfd p{fds[0], POLLIN, 0};
    int pr = poll(&p, 1, killed ? -1 : 20);
    if (pr < 0) break;
    if (pr == 0) continue;
    char chunk[4096];
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;  // EOF: the child is gone
    buf.append(chunk, static_cast<size_t>(n));
    consume();
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  res.exited_by_kill = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  return res;
}

void Verify(const std::string& dir, const testing::CrashOracle& oracle, int round) {
  SCOPED_TRACE("after kill " + std::to_string(round));
  store::StoreOptions o;
  o.dir = dir;
  o.read_only = true;
  o.post = [](std::function<void()> fn) { fn(); };
  auto s = store::RocksStore::Open(std::move(o));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  DiskState disk = ReadDisk(**s);
  EXPECT_TRUE(disk.errors.empty()) << disk.errors;
  EXPECT_EQ(oracle.Check(PresentIds(disk)), "");
}

TEST(SigkillTest, AcknowledgedStateSurvivesRepeatedSigkill) {
  const uint64_t seed = TestSeed("SigkillTest", 4242);
  std::mt19937_64 rng(seed);
  const testing::ScopedTempDir temp("sluice-sigkill");
  const std::string& dir = temp.path();

  constexpr int kKills = 25;
  ChildLog log;
  const testing::CrashOracle& oracle = log.oracle;
  int kills = 0;
  size_t total_lines = 0;
  for (int round = 0; round < kKills; ++round) {
    // Kill points: after a seeded number of lines, capped in time so a slow
    // disk still gets killed mid-load.
    const size_t kill_after = 1 + rng() % 3000;
    const int max_ms = 100 + static_cast<int>(rng() % 900);
    RunResult r = RunChild(dir, seed + static_cast<uint64_t>(round),
                           static_cast<uint64_t>(round + 1) * 10'000'000, kill_after, max_ms,
                           &log);
    total_lines += r.lines;
    ASSERT_TRUE(r.exited_by_kill) << "the child died on its own (round " << round << ")";
    ++kills;
    EXPECT_TRUE(log.failures.empty()) << log.failures.front();
    ASSERT_NO_FATAL_FAILURE(Verify(dir, oracle, round));
    if (::testing::Test::HasFailure()) break;
  }
  std::fprintf(stderr,
               "[crash] %d SIGKILLs, %zu lines, %zu acknowledged enqueues, %zu acknowledged "
               "acks\n",
               kills, total_lines, oracle.enqueues_acked(), oracle.acks_acked());
  EXPECT_EQ(kills, kKills);
  EXPECT_GT(oracle.enqueues_acked(), 100u) << "the load was too light to mean anything";
  EXPECT_GT(oracle.acks_acked(), 10u);
}

}  // namespace
}  // namespace sluice::crashtest
