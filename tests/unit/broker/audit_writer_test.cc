// The audit log's writer thread: lines in order, synced before their
// completion, one failed turn answering UNAVAILABLE and marking the writer
// unhealthy, the unwritten bytes written first (once, uncut) when the sink
// works again, and the file target (mode 0600, a torn last line mended,
// /dev/full failing). Completions run on the test's thread (LoopPoster);
// the writer's retry timer is never waited for: a new line starts a turn.
#include "broker/audit_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "support/loop_poster.h"
#include "support/scoped_temp_dir.h"

namespace sluice::broker {
namespace {

// Records what reaches it; fails writes or syncs on demand, or writes at
// most `chunk` bytes per call.
class FakeSink final : public AuditSink {
 public:
  struct Shared {
    std::mutex mu;
    std::string written;  // every byte written
    std::string synced;   // the bytes written before the last successful sync
    bool fail_write = false;
    bool fail_sync = false;
    size_t chunk = 0;       // 0 = all
    size_t fail_after = 0;  // with fail_write: bytes accepted before failing
  };
  explicit FakeSink(Shared* s) : s_(s) {}

  Result<size_t> Write(std::string_view data) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->fail_write) {
      if (s_->fail_after == 0) return Status::Storage("write: No space left on device");
      const size_t n = std::min(s_->fail_after, data.size());
      s_->fail_after -= n;
      s_->written.append(data.substr(0, n));
      return n;
    }
    const size_t n = s_->chunk == 0 ? data.size() : std::min(s_->chunk, data.size());
    s_->written.append(data.substr(0, n));
    return n;
  }
  Status Sync() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->fail_sync) return Status::Storage("fdatasync: Input/output error");
    s_->synced = s_->written;
    return Status::Ok();
  }

 private:
  Shared* s_;
};

class AuditWriterTest : public ::testing::Test {
 protected:
  AuditWriterTest() : writer_(std::make_unique<FakeSink>(&sink_), "audit.log", loop_.PostFn()) {}

  // Submits `line` and runs completions until its own has run; its status.
  Status Write(const std::string& line) {
    bool done = false;
    Status got;
    writer_.Submit(line, [&](Status st) {
      got = st;
      done = true;
    });
    loop_.RunUntil([&] { return done; });
    return got;
  }

  std::string Synced() {
    std::lock_guard<std::mutex> lock(sink_.mu);
    return sink_.synced;
  }
  void Set(bool FakeSink::Shared::*flag, bool value) {
    std::lock_guard<std::mutex> lock(sink_.mu);
    sink_.*flag = value;
  }

  FakeSink::Shared sink_;
  testing::LoopPoster loop_;
  AuditWriter writer_;
};

TEST_F(AuditWriterTest, ACompletionComesAfterItsLineIsSynced) {
  EXPECT_TRUE(Write("a\n").ok());
  EXPECT_EQ(Synced(), "a\n");
  EXPECT_TRUE(Write("b\n").ok());
  EXPECT_EQ(Synced(), "a\nb\n");
  EXPECT_EQ(writer_.lines_written(), 2u);
  EXPECT_EQ(writer_.errors(), 0u);
  EXPECT_TRUE(writer_.healthy());
}

TEST_F(AuditWriterTest, ManyLinesKeepTheirOrder) {
  int done = 0;
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    const std::string line = "line " + std::to_string(i) + "\n";
    expected += line;
    writer_.Submit(line, [&done](Status st) {
      EXPECT_TRUE(st.ok());
      ++done;
    });
  }
  loop_.RunUntil([&] { return done == 500; });
  EXPECT_EQ(Synced(), expected);
  EXPECT_EQ(writer_.lines_written(), 500u);
}

TEST_F(AuditWriterTest, ShortWritesAreContinued) {
  sink_.chunk = 3;
  EXPECT_TRUE(Write("{\"op\": \"queue_pause\"}\n").ok());
  EXPECT_EQ(Synced(), "{\"op\": \"queue_pause\"}\n");
}

TEST_F(AuditWriterTest, AFailedWriteAnswersUnavailableAndTheLineIsWrittenLaterOnce) {
  ASSERT_TRUE(Write("one\n").ok());
  {
    std::lock_guard<std::mutex> lock(sink_.mu);
    sink_.fail_write = true;
    sink_.fail_after = 2;  // "tw" reaches the file, then the disk is full
  }
  const Status st = Write("two\n");
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("audit.log"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No space left"), std::string::npos) << st.message();
  EXPECT_FALSE(writer_.healthy());
  EXPECT_NE(writer_.last_error().find("No space left"), std::string::npos);
  EXPECT_EQ(writer_.errors(), 1u);
  EXPECT_EQ(Write("three\n").code(), Code::kUnavailable);
  EXPECT_EQ(writer_.errors(), 2u);

  Set(&FakeSink::Shared::fail_write, false);
  EXPECT_TRUE(Write("four\n").ok());
  EXPECT_TRUE(writer_.healthy());
  // "two" continued from where it stopped: no line doubled or cut.
  EXPECT_EQ(Synced(), "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(writer_.lines_written(), 4u);
}

TEST_F(AuditWriterTest, AFailedSyncIsAFailureUntilASyncSucceeds) {
  Set(&FakeSink::Shared::fail_sync, true);
  EXPECT_EQ(Write("a\n").code(), Code::kUnavailable);
  EXPECT_FALSE(writer_.healthy());
  EXPECT_EQ(writer_.lines_written(), 0u);
  Set(&FakeSink::Shared::fail_sync, false);
  EXPECT_TRUE(Write("b\n").ok());
  EXPECT_TRUE(writer_.healthy());
  EXPECT_EQ(Synced(), "a\nb\n");
  EXPECT_EQ(writer_.lines_written(), 2u);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AuditSinkTest, AFileIsCreatedWithMode0600AndAppended) {
  testing::ScopedTempDir dir;
  const std::string path = dir.path() + "/audit.log";
  {
    auto sink = OpenAuditSink(path);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    ASSERT_TRUE((*sink)->Write("a\n").ok());
    ASSERT_TRUE((*sink)->Sync().ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  {
    auto sink = OpenAuditSink(path);
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write("b\n").ok());
  }
  EXPECT_EQ(ReadFile(path), "a\nb\n");
}

TEST(AuditSinkTest, ATornLastLineIsEndedBeforeNewLines) {
  testing::ScopedTempDir dir;
  const std::string path = dir.path() + "/audit.log";
  std::ofstream(path) << "{\"ok\": 1}\n{\"torn";
  auto sink = OpenAuditSink(path);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write("{\"next\": 2}\n").ok());
  EXPECT_EQ(ReadFile(path), "{\"ok\": 1}\n{\"torn\n{\"next\": 2}\n");
}

TEST(AuditSinkTest, AnUnwritableDirectoryIsRefusedNamingThePath) {
  auto sink = OpenAuditSink("/nonexistent-dir/audit.log");
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.status().message().find("/nonexistent-dir/audit.log"), std::string::npos);
}

TEST(AuditSinkTest, DevFullFailsEveryWrite) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  auto sink = OpenAuditSink("/dev/full");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  testing::LoopPoster loop;
  AuditWriter writer(std::move(*sink), "/dev/full", loop.PostFn());
  bool done = false;
  Status got;
  writer.Submit("x\n", [&](Status st) {
    got = st;
    done = true;
  });
  loop.RunUntil([&] { return done; });
  EXPECT_EQ(got.code(), Code::kUnavailable);
  EXPECT_FALSE(writer.healthy());
}

}  // namespace
}  // namespace sluice::broker
