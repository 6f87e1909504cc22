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
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "crash/crash_support.h"
#include "store/rocks_store.h"

#ifndef SLUICE_CRASH_CHILD
#error "SLUICE_CRASH_CHILD must name the crash_child binary"
#endif

namespace sluice::crashtest {
namespace {

using core::TaskId;

// The oracle, built from the child's lines.
struct Oracle {
  std::set<uint64_t> sent;                   // "pending enqueue"
  std::map<uint64_t, TaskId> acked_enqueue;  // seq -> id
  std::set<TaskId> sent_ack;                 // "pending ack"
  std::set<TaskId> acked_ack;
  std::vector<std::string> failures;         // "failed ..." lines
  uint64_t max_seq = 0;

  void Apply(const std::string& line) {
    std::istringstream in(line);
    std::string a, b;
    in >> a >> b;
    if (a == "pending" && b == "enqueue") {
      uint64_t seq = 0;
      in >> seq;
      sent.insert(seq);
      max_seq = std::max(max_seq, seq);
    } else if (a == "acked" && b == "enqueue") {
      uint64_t seq = 0;
      TaskId id = 0;
      in >> seq >> id;
      EXPECT_TRUE(sent.count(seq)) << "acked before pending: " << line;
      acked_enqueue[seq] = id;
    } else if (a == "pending" && b == "ack") {
      TaskId id = 0;
      in >> id;
      sent_ack.insert(id);
    } else if (a == "acked" && b == "ack") {
      TaskId id = 0;
      in >> id;
      acked_ack.insert(id);
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
                   size_t kill_after_lines, int max_ms, Oracle* oracle) {
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
      oracle->Apply(line);
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

void Verify(const std::string& dir, const Oracle& oracle, int round) {
  SCOPED_TRACE("after kill " + std::to_string(round));
  store::StoreOptions o;
  o.dir = dir;
  o.read_only = true;
  o.post = [](std::function<void()> fn) { fn(); };
  auto s = store::RocksStore::Open(std::move(o));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  DiskState disk = ReadDisk(**s);
  EXPECT_TRUE(disk.errors.empty()) << disk.errors;
  for (const auto& [seq, d] : disk.by_seq) {
    EXPECT_TRUE(oracle.sent.count(static_cast<uint64_t>(seq))) << "phantom seq " << seq;
    EXPECT_FALSE(oracle.acked_ack.count(d.id))
        << "acknowledged ack came back: task " << d.id << " seq " << seq;
  }
  for (const auto& [seq, id] : oracle.acked_enqueue) {
    if (oracle.sent_ack.count(id)) continue;  // an ack was sent: it may have landed
    auto it = disk.by_seq.find(static_cast<int64_t>(seq));
    if (it == disk.by_seq.end()) {
      ADD_FAILURE() << "acknowledged enqueue lost: seq " << seq << " id " << id;
      continue;
    }
    EXPECT_EQ(it->second.id, id) << "seq " << seq;
  }
}

TEST(SigkillTest, AcknowledgedStateSurvivesRepeatedSigkill) {
  const uint64_t seed = TestSeed("SigkillTest", 4242);
  std::mt19937_64 rng(seed);
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "sluice-sigkill-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;

  constexpr int kKills = 25;
  Oracle oracle;
  int kills = 0;
  size_t total_lines = 0;
  for (int round = 0; round < kKills; ++round) {
    // Kill points: after a seeded number of lines, capped in time so a slow
    // disk still gets killed mid-load.
    const size_t kill_after = 1 + rng() % 3000;
    const int max_ms = 100 + static_cast<int>(rng() % 900);
    RunResult r = RunChild(dir, seed + static_cast<uint64_t>(round),
                           static_cast<uint64_t>(round + 1) * 10'000'000, kill_after, max_ms,
                           &oracle);
    total_lines += r.lines;
    ASSERT_TRUE(r.exited_by_kill) << "the child died on its own (round " << round << ")";
    ++kills;
    EXPECT_TRUE(oracle.failures.empty()) << oracle.failures.front();
    ASSERT_NO_FATAL_FAILURE(Verify(dir, oracle, round));
    if (::testing::Test::HasFailure()) break;
  }
  std::fprintf(stderr,
               "[crash] %d SIGKILLs, %zu lines, %zu acknowledged enqueues, %zu acknowledged "
               "acks\n",
               kills, total_lines, oracle.acked_enqueue.size(), oracle.acked_ack.size());
  EXPECT_EQ(kills, kKills);
  EXPECT_GT(oracle.acked_enqueue.size(), 100u) << "the load was too light to mean anything";
  EXPECT_GT(oracle.acked_ack.size(), 10u);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace sluice::crashtest
