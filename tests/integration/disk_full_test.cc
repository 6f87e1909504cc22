// A full disk through the real broker (issue 13): sluiced on a 24 MiB tmpfs
// with a 4 MiB free-space floor, filled with 1 MiB tasks until it refuses
// them. While full it keeps serving leases, acks, nacks (dead-lettering),
// cancels and purges;
// an outside process taking the last byte makes RocksDB's own writes fail,
// and the broker neither aborts nor reopens in a loop; writes come back by
// themselves once space returns; kill -9 and a restart on a nearly full disk
// either serve (refusing enqueues) or exit with code 4 and a clear message.
// Then the oracle: every acknowledged enqueue is there unless its ack was
// acknowledged, and no acknowledged ack comes back. All along, /readyz (the
// HTTP listener) says what the store says: 503 below the floor, 503 while
// writes fail, 200 once they resume.
//
// Mounting a tmpfs needs root (CI runs as root); elsewhere the test skips,
// and store_rocks_store_test's DiskFullTest covers the same logic through
// the fault-injection file system and a free-space seam.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/http_request.h"
#include "support/scoped_temp_dir.h"
#include "support/wait_for.h"

namespace sluice::client {
namespace {

using std::chrono::milliseconds;
using testing::BrokerProcess;

constexpr uint64_t kMiB = 1 << 20;
constexpr char kQueue[] = "disk";

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs st {};
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

// Writes zeros into `path` until `bytes` are written or the disk is full.
void Fill(const std::string& path, uint64_t bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  const std::string chunk(64 << 10, '\0');
  for (uint64_t written = 0; written < bytes; written += chunk.size()) {
    if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) break;
    if (std::fflush(f) != 0) break;
  }
  std::fclose(f);
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_ = mount_point_.path();
    if (mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=24m") != 0) {
      mount_.clear();
      GTEST_SKIP() << "cannot mount a tmpfs here (needs root); store_rocks_store_test's "
                      "DiskFullTest covers the store's side";
    }
    testing::BrokerOptions options;
    options.data_dir = mount_ + "/data";
    options.config_toml =
        "[storage]\nmin_free_bytes = 4194304\nwal_spare_bytes = 2097152\n"
        "[limits]\nmax_payload_bytes = 2097152\n"
        "[http]\nlisten = \"127.0.0.1:0\"\n";
    broker_ = std::make_unique<BrokerProcess>(options);
  }
  void TearDown() override {
    client_.reset();
    broker_.reset();
    if (!mount_.empty()) umount2(mount_.c_str(), MNT_DETACH);  // mount_point_ goes after
  }

  void Connect() {
    ClientOptions o;
    o.host = broker_->host();
    o.port = broker_->port();
    o.client_name = "disk_full_test";
    o.request_timeout = milliseconds(20'000);
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(*c);
  }

  // Expects /readyz to answer `status` with `says` in its body.
  void ExpectReadyz(int status, const std::string& says) {
    const testing::HttpAnswer r = testing::HttpGet(broker_->http_port(), "/readyz");
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_NE(r.body.find(says), std::string::npos) << r.body;
  }

  Result<EnqueueResult> Enqueue(size_t bytes) {
    TaskSpec t;
    t.queue = kQueue;
    t.payload = std::string(bytes, 'p');
    return client_->Enqueue(t);
  }

  testing::ScopedTempDir mount_point_{"sluice-tmpfs"};
  std::string mount_;  // mount_point_ once the tmpfs is mounted on it; empty: not mounted
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> client_;
  std::set<TaskId> enqueued_;  // acknowledged enqueues
  std::set<TaskId> acked_;     // acknowledged acks (and purged dead letters)
};

TEST_F(DiskFullTest, RefusesEnqueuesKeepsServingFreesSpaceAndResumes) {
  // Ballast: someone else's 6 MiB on the same disk, deleted later.
  Fill(mount_ + "/ballast", 6 * kMiB);
  ASSERT_TRUE(broker_->Start());
  Connect();
  ExpectReadyz(200, "ready");

  // 1. Fill with 1 MiB tasks until the floor refuses one.
  Status refused;
  for (int i = 0; i < 40 && refused.ok(); ++i) {
    auto r = Enqueue(kMiB);
    if (r.ok()) {
      enqueued_.insert(r->id);
    } else {
      refused = r.status();
    }
  }
  ASSERT_EQ(refused.code(), Code::kNoSpace) << refused.ToString();
  EXPECT_NE(refused.message().find("free under " + broker_->data_dir()), std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find("floor of 4.0 MiB"), std::string::npos) << refused.message();
  ASSERT_GE(enqueued_.size(), 5u);
  RecordProperty("tasks_before_full", static_cast<int>(enqueued_.size()));
  ExpectReadyz(503, "not ready: below the free-space floor");

  // 2. Full: leases, acks, a fatal nack, a cancel and a purge still work.
  auto leased = client_->Lease(kQueue, 4, 0, 60'000);
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 4u);
  std::vector<LeaseToken> acks = {(*leased)[0].token, (*leased)[1].token, (*leased)[2].token};
  auto acked = client_->Ack(acks);
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  for (size_t i = 0; i < acks.size(); ++i) {
    ASSERT_TRUE((*acked)[i].ok()) << (*acked)[i].ToString();
    acked_.insert(acks[i].task_id);
  }
  auto nacked = client_->Nack((*leased)[3].token, "poison", /*fatal=*/true);
  ASSERT_TRUE(nacked.ok()) << nacked.status().ToString();
  // A ready task (the newest; enqueued_ holds at least 5) is cancelled: a
  // dead letter, written from the reserve like the fatal nack's.
  const TaskId ready = *enqueued_.rbegin();
  auto cancelled = client_->TaskCancel(ready);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(*cancelled, CancelOutcome::kCancelled);
  DlqSelection all;
  all.all = true;
  all.filter.queue = kQueue;
  auto purged = client_->DlqPurge(all);
  ASSERT_TRUE(purged.ok()) << purged.status().ToString();
  EXPECT_EQ(*purged, 2u) << "the nacked and the cancelled task";
  acked_.insert((*leased)[3].token.task_id);
  acked_.insert(ready);
  EXPECT_EQ(Enqueue(100).status().code(), Code::kNoSpace) << "still below the floor";

  // 3. Someone else takes the last byte: RocksDB's own writes may fail now.
  // The broker must answer (an error or not), never abort.
  Fill(mount_ + "/filler", 64 * kMiB);
  auto more = client_->Lease(kQueue, 2, 0, 60'000);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  ASSERT_EQ(more->size(), 2u);
  // A retry rewrites the task's record (payload included): 1 MiB that the
  // disk no longer has. The nack is refused and the lease stays the worker's.
  auto retry = client_->Nack((*more)[0].token, "retry later", /*fatal=*/false);
  ASSERT_EQ(retry.status().code(), Code::kNoSpace) << retry.status().ToString();
  // RocksDB's write failed: every write is refused now, at once, until the
  // store has recovered; the broker keeps answering.
  for (int i = 0; i < 20; ++i) {
    auto a = client_->Ack(std::vector<LeaseToken>{(*more)[0].token});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ((*a)[0].code(), Code::kNoSpace) << (*a)[0].ToString();
  }
  ASSERT_TRUE(client_->Stats(kQueue).ok()) << "reads keep working";
  ExpectReadyz(503, "not ready: storage error");

  // 4. Space returns (the filler and the ballast go): writes resume by
  // themselves, without a restart. Timed for the figure.
  std::filesystem::remove(mount_ + "/filler");
  std::filesystem::remove(mount_ + "/ballast");
  const auto freed = std::chrono::steady_clock::now();
  Result<EnqueueResult> again = Status::Unavailable("not tried");
  // Retried while the broker says kNoSpace; any other answer ends the wait.
  testing::WaitFor(
      [&] {
        again = Enqueue(100);
        return again.ok() || again.status().code() != Code::kNoSpace;
      },
      milliseconds(30'000), milliseconds(100));
  ASSERT_TRUE(again.ok()) << "writes did not resume after space returned: "
                          << again.status().ToString();
  const auto resume_ms = std::chrono::duration_cast<milliseconds>(
                             std::chrono::steady_clock::now() - freed)
                             .count();
  RecordProperty("ms_from_space_freed_to_enqueue_accepted", static_cast<int>(resume_ms));
  std::printf("disk full: writes accepted again %lld ms after space was freed\n",
              static_cast<long long>(resume_ms));
  enqueued_.insert(again->id);
  ExpectReadyz(200, "ready");
  auto a = client_->Ack(std::vector<LeaseToken>{(*more)[0].token, (*more)[1].token});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE((*a)[i].ok()) << (*a)[i].ToString();
    acked_.insert((*more)[i].token.task_id);
  }
  // No reopen storm: RocksDB's info log was rotated a handful of times at most.
  int old_logs = 0;
  for (const auto& e : std::filesystem::directory_iterator(broker_->data_dir())) {
    if (e.path().filename().string().rfind("LOG.old", 0) == 0) ++old_logs;
  }
  EXPECT_LE(old_logs, 3);

  // 5. kill -9, then a restart with the disk nearly full again: it serves
  // (refusing enqueues) between the open margin and the floor...
  client_.reset();
  broker_->Kill();
  ASSERT_GT(FreeBytes(mount_), 3 * kMiB);
  Fill(mount_ + "/filler", FreeBytes(mount_) - 3 * kMiB);
  ASSERT_LT(FreeBytes(mount_), 4 * kMiB);
  ASSERT_TRUE(broker_->Restart());
  Connect();
  EXPECT_EQ(Enqueue(100).status().code(), Code::kNoSpace);
  auto stats = client_->Stats(kQueue);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  // ...and below the open margin it exits with code 4 and says why.
  client_.reset();
  broker_->Kill();
  ASSERT_GT(FreeBytes(mount_), kMiB / 2);
  Fill(mount_ + "/filler2", FreeBytes(mount_) - kMiB / 2);
  const auto out = testing::RunSluiced(
      {"--listen", "127.0.0.1:0", "--data-dir", broker_->data_dir(), "--config",
       broker_->work_dir() + "/sluiced.toml"});
  EXPECT_EQ(out.exit_code, 4) << out.out << out.err;
  EXPECT_NE((out.out + out.err).find("opening the store needs at least"), std::string::npos)
      << out.out << out.err;

  // 6. The oracle, with space back.
  std::filesystem::remove(mount_ + "/filler");
  std::filesystem::remove(mount_ + "/filler2");
  ASSERT_TRUE(broker_->Restart());
  Connect();
  for (TaskId id : enqueued_) {
    auto t = client_->TaskShow(id);
    if (acked_.count(id)) {
      EXPECT_EQ(t.status().code(), Code::kNotFound) << "acknowledged ack of task " << id
                                                     << " came back";
    } else {
      EXPECT_TRUE(t.ok()) << "acknowledged task " << id << " lost: " << t.status().ToString();
    }
  }
}

}  // namespace
}  // namespace sluice::client
