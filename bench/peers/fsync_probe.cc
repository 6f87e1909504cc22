// fsync-probe: the disk's limits, for the side-by-side comparison.
//
//   fsync-probe [--dir DIR] [--count 500] [--append] [--json]
//       write 4 KiB + fdatasync, `count` times, sequentially over a file in
//       DIR written in full beforehand (the device's flush, no metadata);
//       prints the latency p50 / p99 / mean in microseconds. --append grows
//       the file instead, so each fdatasync also commits the new size through
//       the file system's journal (a log that does not preallocate, as
//       Redis's AOF).
//   fsync-probe --rocksdb [--dir DIR] [--window 64] [--size 256]
//               [--seconds 5] [--json]
//       the two-writes-per-task RocksDB limit: per group of `window` tasks,
//       one synced WriteBatch of `window` puts and one of `window` deletes
//       (one task's lifecycle is two writes; `window` concurrent writers
//       grouped into one commit, as sluice's group commit does), default
//       options; prints tasks/s. The same loop as engine_bench's
//       BM_RocksBaseline/<window>/1.
//       --fused: one synced write per group instead, carrying the group's
//       `window` puts and the previous group's `window` deletes (a broker
//       that commits enqueues and acks together): still two writes per task,
//       but one fsync per `window` tasks.
//       --wal-spares BYTES: RocksDB's logs start as zero-filled spares, as
//       sluiced's do (store/wal_prealloc_fs.h): the limit for RocksDB with
//       sluice's log files instead of its own.
//
// --busy keeps one more thread spinning during the measurement. On a VM whose
// idle vCPU notices an I/O completion only at the next timer tick, an idle
// machine shows the tick (4 ms at HZ=250) instead of the device; a broker
// under load never idles, so --busy is the fair limit for a loaded broker.
//
// DIR defaults to /tmp; a fresh subdirectory is made and removed.
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/wal_prealloc_fs.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string dir = "/tmp";
  bool rocksdb = false;
  uint64_t wal_spares = 0;  // --rocksdb: zeroed WAL spares of this size
  bool append = false;
  bool fused = false;
  bool busy = false;
  uint32_t count = 500;
  uint32_t window = 64;
  uint32_t size = 256;
  double seconds = 5.0;
  bool json = false;
};

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

std::string MakeDir(const std::string& parent) {
  std::string tmpl = parent + "/fsync-probe-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

int ProbeFsync(const Flags& f, const std::string& dir) {
  const std::string path = dir + "/probe";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "error: open %s: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  constexpr size_t kBlock = 4096;
  std::vector<char> block(kBlock, 'x');
  // Overwrite mode writes the whole file first (not fallocate, whose
  // unwritten extents would make each later fdatasync commit metadata).
  for (uint32_t i = 0; !f.append && i < f.count; ++i) {
    if (write(fd, block.data(), kBlock) != static_cast<ssize_t>(kBlock)) {
      std::fprintf(stderr, "error: prefill %s: %s\n", path.c_str(), std::strerror(errno));
      close(fd);
      return 1;
    }
  }
  if (fdatasync(fd) != 0) {
    std::fprintf(stderr, "error: fdatasync %s: %s\n", path.c_str(), std::strerror(errno));
    close(fd);
    return 1;
  }
  std::vector<double> us;
  us.reserve(f.count);
  for (uint32_t i = 0; i < f.count; ++i) {
    const auto t0 = Clock::now();
    const auto off = static_cast<off_t>(kBlock) * i;
    if (pwrite(fd, block.data(), kBlock, off) != static_cast<ssize_t>(kBlock) ||
        fdatasync(fd) != 0) {
      std::fprintf(stderr, "error: write/fdatasync: %s\n", std::strerror(errno));
      close(fd);
      return 1;
    }
    us.push_back(Micros(Clock::now() - t0));
  }
  close(fd);
  double sum = 0;
  for (double v : us) sum += v;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
  };
  const double mean = us.empty() ? 0 : sum / static_cast<double>(us.size());
  if (f.json) {
    std::printf(
        "{\"probe\": \"fsync\", \"busy\": %s, \"append\": %s, \"dir\": \"%s\", \"count\": %u, "
        "\"block\": %zu, "
        "\"fsync_p50_us\": %.1f, \"fsync_p99_us\": %.1f, \"fsync_mean_us\": %.1f, "
        "\"fsync_max_us\": %.1f}\n",
        f.busy ? "true" : "false", f.append ? "true" : "false", f.dir.c_str(), f.count, kBlock,
        at(0.5), at(0.99), mean, us.back());
  } else {
    std::printf(
        "fsync (4 KiB %s + fdatasync) in %s, %u times: p50 %.1f us  p99 %.1f us"
        "  mean %.1f us  max %.1f us\n",
        f.append ? "append" : "overwrite", f.dir.c_str(), f.count, at(0.5), at(0.99), mean,
        us.back());
  }
  return 0;
}

std::string Key(uint64_t id) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[static_cast<size_t>(i)] = static_cast<char>(id & 0xff);
    id >>= 8;
  }
  return k;
}

int ProbeRocks(const Flags& f, const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // --wal-spares: the logs start as zeroed spares, as sluiced's do.
  std::shared_ptr<sluice::store::WalPreallocFs> spares;
  std::unique_ptr<rocksdb::Env> env;
  if (f.wal_spares > 0) {
    spares = std::make_shared<sluice::store::WalPreallocFs>(rocksdb::FileSystem::Default(),
                                                            dir + "/db", f.wal_spares);
    if (!spares->WaitForSpare()) {
      std::fprintf(stderr, "error: %s\n", spares->last_error().c_str());
      return 1;
    }
    env = rocksdb::NewCompositeEnv(spares);
    options.env = env.get();
  }
  rocksdb::DB* raw = nullptr;
  if (auto s = rocksdb::DB::Open(options, dir + "/db", &raw); !s.ok()) {
    std::fprintf(stderr, "error: open rocksdb: %s\n", s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const std::string payload(f.size, 'x');
  uint64_t id = 1;
  uint64_t tasks = 0;
  const auto t0 = Clock::now();
  const auto limit =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(f.seconds));
  Clock::time_point now;
  do {
    rocksdb::WriteBatch puts;
    rocksdb::WriteBatch dels;
    // Fused: the one write also deletes the previous group's keys.
    rocksdb::WriteBatch& del_to = f.fused ? puts : dels;
    for (uint32_t i = 0; i < f.window; ++i, ++id) {
      (void)puts.Put(Key(id), payload);
      if (!f.fused) {
        (void)del_to.Delete(Key(id));
      } else if (id > f.window) {
        (void)del_to.Delete(Key(id - f.window));
      }
    }
    rocksdb::Status s = db->Write(wo, &puts);
    if (s.ok() && !f.fused) s = db->Write(wo, &dels);
    if (!s.ok()) {
      std::fprintf(stderr, "error: write: %s\n", s.ToString().c_str());
      return 1;
    }
    tasks += f.window;
    now = Clock::now();
  } while (now < limit);
  const double secs = std::chrono::duration<double>(now - t0).count();
  const double tps = static_cast<double>(tasks) / secs;
  const double groups = static_cast<double>(tasks) / f.window;
  if (f.json) {
    std::printf(
        "{\"probe\": \"rocksdb\", \"busy\": %s, \"fused\": %s, \"dir\": \"%s\", \"window\": %u, "
        "\"size\": %u, \"wal_spares\": %llu, "
        "\"seconds\": %.3f, \"tasks\": %llu, \"tasks_per_s\": %.0f, \"group_us\": %.1f}\n",
        f.busy ? "true" : "false", f.fused ? "true" : "false", f.dir.c_str(), f.window, f.size,
        static_cast<unsigned long long>(f.wal_spares), secs, static_cast<unsigned long long>(tasks),
        tps, secs * 1e6 / groups);
  } else {
    std::printf(
        "rocksdb%s %s per group of %u tasks (%u-byte values) in %s: "
        "%.0f tasks/s (%.1f us per group, %llu tasks in %.3f s)\n",
        f.wal_spares > 0 ? " on WAL spares" : "",
        f.fused ? "one fused synced write" : "two synced writes", f.window, f.size, f.dir.c_str(),
        tps, secs * 1e6 / groups, static_cast<unsigned long long>(tasks), secs);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fsync-probe: the disk's fsync latency and the RocksDB two-writes limit"};
  Flags f;
  app.add_option("--dir", f.dir, "directory on the disk to measure")->capture_default_str();
  app.add_flag("--append", f.append, "grow the file (no preallocation)");
  app.add_flag("--rocksdb", f.rocksdb, "measure the RocksDB two-writes-per-task limit");
  app.add_flag("--busy", f.busy, "keep one more thread spinning meanwhile");
  app.add_flag("--fused", f.fused, "one synced write per group (--rocksdb)");
  app.add_option("--wal-spares", f.wal_spares,
                 "RocksDB's logs start as zero-filled spares of this many bytes, as sluiced's "
                 "do (--rocksdb; store/wal_prealloc_fs.h); 0: plain RocksDB files")
      ->capture_default_str();
  app.add_option("--count", f.count, "fsync samples")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--window", f.window, "tasks per group commit (--rocksdb)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--size", f.size, "value bytes (--rocksdb)")->capture_default_str();
  app.add_option("--seconds", f.seconds, "duration (--rocksdb)")->capture_default_str();
  app.add_flag("--json", f.json, "print one JSON object");
  CLI11_PARSE(app, argc, argv);

  const std::string dir = MakeDir(f.dir);
  if (dir.empty()) {
    std::fprintf(stderr, "error: cannot make a directory in %s\n", f.dir.c_str());
    return 1;
  }
  std::atomic<bool> stop{false};
  std::thread spinner;
  if (f.busy) {
    spinner = std::thread([&stop] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  }
  const int rc = f.rocksdb ? ProbeRocks(f, dir) : ProbeFsync(f, dir);
  stop = true;
  if (spinner.joinable()) spinner.join();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
