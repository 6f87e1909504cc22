#include "store/record_format.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::store {
namespace {

core::TaskRecord FullTask() {
  core::TaskRecord t;
  t.id = 0x0102030405060708ULL;
  t.queue = "embed";
  t.tenant = "acme";
  t.priority = 7;
  t.payload = std::string("pay\0load", 8);
  t.headers = {{"traceparent", "00-abc-def-01"}, {"tracestate", "k=v"}, {"", ""}};
  t.max_attempts = 9;
  t.backoff_initial_ms = 250;
  t.backoff_max_ms = 90'000;
  t.lease_ms = 12'345;
  t.enqueued_ms = 1'700'000'000'123;
  t.not_before_ms = -5;
  t.expires_ms = 1'800'000'000'000;
  t.batch_key = "llama-70b";
  t.cost = 4096;
  t.idempotency_key = "idem-1";
  t.attempts = 2;
  t.history = {
      {1, "worker-a", 10, 20, core::AttemptOutcome::kNacked, "timeout talking to tool"},
      {2, "worker-b", 30, 40, core::AttemptOutcome::kLeaseExpired, ""},
      {3, "", 50, 60, core::AttemptOutcome::kLost, "broker restart"},
  };
  t.checkpoint = std::string(300, 'c');  // multi-byte varint length
  t.redrives = {{1, 1'700'000'000'500}, {2, -7}};
  return t;
}

// The version-1 value of `t` (no redrive list): version 2 is version 1 and
// then the redrive list, which is one 0 byte when there are no redrives.
std::string EncodeV1(core::TaskRecord t) {
  t.redrives.clear();
  std::string v;
  EncodeTask(t, &v);
  EXPECT_EQ(v.back(), '\0');
  v.pop_back();
  v[0] = 1;
  return v;
}

TEST(RecordFormatTest, TaskKeyIsBigEndianAndRoundTrips) {
  EXPECT_EQ(EncodeTaskKey(0x0102030405060708ULL), std::string("\x01\x02\x03\x04\x05\x06\x07\x08"));
  for (core::TaskId id : {0ULL, 1ULL, 255ULL, 256ULL, 0xFFFFFFFFFFFFFFFFULL}) {
    core::TaskId back = 1234;
    ASSERT_TRUE(DecodeTaskKey(EncodeTaskKey(id), &back).ok());
    EXPECT_EQ(back, id);
  }
  core::TaskId ignored = 0;
  EXPECT_EQ(DecodeTaskKey("1234567", &ignored).code(), Code::kCorruption);
  EXPECT_EQ(DecodeTaskKey("123456789", &ignored).code(), Code::kCorruption);
}

TEST(RecordFormatTest, TaskKeysSortInIdOrder) {
  const core::TaskId ids[] = {
      0, 1, 2, 255, 256, 65535, 65536, 1ULL << 32, (1ULL << 56) + 1, 0xFFFFFFFFFFFFFFFFULL};
  for (size_t i = 1; i < std::size(ids); ++i) {
    EXPECT_LT(EncodeTaskKey(ids[i - 1]), EncodeTaskKey(ids[i])) << ids[i];
  }
}

TEST(RecordFormatTest, JournalKeysGroupByTaskThenStep) {
  EXPECT_EQ(EncodeJournalKey(1, "run/step"), EncodeTaskKey(1) + "run/step");
  // Every step of task 1 sorts before task 2, including steps of 0xFF bytes.
  EXPECT_LT(EncodeJournalKey(1, std::string(20, '\xff')), EncodeTaskKey(2));
  EXPECT_LT(EncodeJournalKey(1, "a"), EncodeJournalKey(1, "b"));
  EXPECT_GE(EncodeJournalKey(1, ""), EncodeTaskKey(1));
}

TEST(RecordFormatTest, TaskRoundTripsAllFields) {
  core::TaskRecord t = FullTask();
  std::string v;
  EncodeTask(t, &v);
  EXPECT_EQ(static_cast<uint8_t>(v[0]), kTaskFormatVersion);
  core::TaskRecord back;
  ASSERT_TRUE(DecodeTask(v, &back).ok());
  EXPECT_EQ(back, t);
}

// Version 1 counted the current run only (a redrive reset it to 0) and kept
// no redrives: decoded, the history's length is the life-wide count and one
// redrive of unknown time marks where the current run started.
TEST(RecordFormatTest, VersionOneTaskDecodesWithLifeWideAttempts) {
  core::TaskRecord t = FullTask();  // 3 attempts in the history
  t.attempts = 1;                   // version 1: one attempt since a redrive
  core::TaskRecord back;
  ASSERT_TRUE(DecodeTask(EncodeV1(t), &back).ok());
  EXPECT_EQ(back.attempts, 3u);
  ASSERT_EQ(back.redrives.size(), 1u);
  EXPECT_EQ(back.redrives[0], (core::RedriveRecord{2, 0}));
  EXPECT_EQ(core::RunAttempts(back), 1u);
  EXPECT_EQ(core::CurrentRun(back), 2u);
  EXPECT_EQ(core::RunOf(back, 2), 1u);
  EXPECT_EQ(core::RunOf(back, 3), 2u);
  back.attempts = t.attempts;
  back.redrives.clear();
  t.redrives.clear();
  EXPECT_EQ(back, t) << "every other field as stored";

  t.attempts = 3;  // never redriven: as stored
  ASSERT_TRUE(DecodeTask(EncodeV1(t), &back).ok());
  EXPECT_EQ(back.attempts, 3u);
  EXPECT_TRUE(back.redrives.empty());
  t.attempts = 5;  // more than the history holds (an expiry whose write failed)
  ASSERT_TRUE(DecodeTask(EncodeV1(t), &back).ok());
  EXPECT_EQ(back.attempts, 5u);
  EXPECT_TRUE(back.redrives.empty());

  core::TaskSummary s;  // the summary returns the stored count
  ASSERT_TRUE(DecodeTaskSummary(EncodeV1(t), &s).ok());
  EXPECT_EQ(s.attempts, 5u);

  core::DeadRecord d;  // inside a dead value too
  d.task = FullTask();
  d.task.attempts = 0;
  d.task.redrives.clear();
  std::string dead;
  EncodeDead(d, &dead);
  dead.pop_back();
  dead[1 + 1 + 8] = 1;  // the task value's version byte
  core::DeadRecord dback;
  ASSERT_TRUE(DecodeDead(dead, &dback).ok());
  EXPECT_EQ(dback.task.attempts, 3u);
  EXPECT_EQ(core::RunAttempts(dback.task), 0u);
}

TEST(RecordFormatTest, DefaultTaskRoundTrips) {
  core::TaskRecord t;
  std::string v;
  EncodeTask(t, &v);
  core::TaskRecord back = FullTask();  // decode must overwrite every field
  ASSERT_TRUE(DecodeTask(v, &back).ok());
  EXPECT_EQ(back, t);
}

TEST(RecordFormatTest, SummaryDecodesLeadingFields) {
  core::TaskRecord t = FullTask();
  std::string v;
  EncodeTask(t, &v);
  core::TaskSummary s;
  ASSERT_TRUE(DecodeTaskSummary(v, &s).ok());
  EXPECT_EQ(s.id, t.id);
  EXPECT_EQ(s.queue, t.queue);
  EXPECT_EQ(s.tenant, t.tenant);
  EXPECT_EQ(s.batch_key, t.batch_key);
  EXPECT_EQ(s.priority, t.priority);
  EXPECT_EQ(s.attempts, t.attempts);
  EXPECT_EQ(s.max_attempts, t.max_attempts);
  EXPECT_EQ(s.enqueued_ms, t.enqueued_ms);
  EXPECT_EQ(s.not_before_ms, t.not_before_ms);
  EXPECT_EQ(s.expires_ms, t.expires_ms);
  EXPECT_EQ(s.cost, t.cost);
  EXPECT_EQ(s.stored_bytes, core::StoredBytes(t));
  EXPECT_EQ(s.stored_bytes, 8u + 11 + 13 + 10 + 3) << "payload, header keys and values";
  // What the summary reads ends with the headers: it decodes when the
  // history and the redrives are gone, and not when a header is cut.
  // The same task without history and redrives encodes the same bytes up
  // to the headers, then one 0 count for each.
  core::TaskRecord bare = t;
  bare.history.clear();
  bare.redrives.clear();
  std::string bare_value;
  EncodeTask(bare, &bare_value);
  const size_t headers_end = bare_value.size() - 2;
  ASSERT_EQ(v.substr(0, headers_end), bare_value.substr(0, headers_end));
  EXPECT_TRUE(DecodeTaskSummary(std::string_view(v).substr(0, headers_end), &s).ok());
  EXPECT_EQ(s.stored_bytes, core::StoredBytes(t));
  EXPECT_EQ(DecodeTaskSummary(std::string_view(v).substr(0, headers_end - 1), &s).code(),
            Code::kCorruption);
}

TEST(RecordFormatTest, DeadRoundTrips) {
  core::DeadRecord d;
  d.task = FullTask();
  d.reason = core::DeadReason::kFatalError;
  d.died_ms = 1'700'000'999'999;
  std::string v;
  EncodeDead(d, &v);
  EXPECT_EQ(static_cast<uint8_t>(v[0]), kDeadFormatVersion);
  core::DeadRecord back;
  ASSERT_TRUE(DecodeDead(v, &back).ok());
  EXPECT_EQ(back, d);
}

// Every strict prefix of a valid value is rejected as corruption and the
// decoders never read past the end (ASan/UBSan builds check the latter).
TEST(RecordFormatTest, EveryTruncationIsCorruption) {
  std::string task;
  EncodeTask(FullTask(), &task);
  core::DeadRecord d;
  d.task = FullTask();
  std::string dead;
  EncodeDead(d, &dead);
  for (size_t n = 0; n < task.size(); ++n) {
    // Copy into an exactly sized heap buffer so an over-read is caught by ASan.
    std::string cut = task.substr(0, n);
    core::TaskRecord t;
    EXPECT_EQ(DecodeTask(cut, &t).code(), Code::kCorruption) << "length " << n;
  }
  for (size_t n = 0; n < dead.size(); ++n) {
    std::string cut = dead.substr(0, n);
    core::DeadRecord out;
    EXPECT_EQ(DecodeDead(cut, &out).code(), Code::kCorruption) << "length " << n;
  }
  std::string longer = task + "x";
  core::TaskRecord t;
  EXPECT_EQ(DecodeTask(longer, &t).code(), Code::kCorruption);
}

TEST(RecordFormatTest, CorruptBytesNeverCrash) {
  std::string task;
  EncodeTask(FullTask(), &task);
  // Flip every byte to a few values; the decoder must either succeed or
  // report corruption, and never crash or allocate wildly.
  for (size_t i = 0; i < task.size(); ++i) {
    for (unsigned char b : {0x00, 0x7f, 0x80, 0xff}) {
      std::string bad = task;
      bad[i] = static_cast<char>(b);
      core::TaskRecord t;
      Status st = DecodeTask(bad, &t);
      EXPECT_TRUE(st.ok() || st.code() == Code::kCorruption);
      core::TaskSummary s;
      st = DecodeTaskSummary(bad, &s);
      EXPECT_TRUE(st.ok() || st.code() == Code::kCorruption);
    }
  }
}

TEST(RecordFormatTest, UnknownNewerVersionIsCorruption) {
  std::string task;
  EncodeTask(FullTask(), &task);
  task[0] = static_cast<char>(kTaskFormatVersion + 1);
  core::TaskRecord t;
  Status st = DecodeTask(task, &t);
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_NE(st.message().find("version"), std::string::npos);
  core::TaskSummary s;
  EXPECT_EQ(DecodeTaskSummary(task, &s).code(), Code::kCorruption);
  task[0] = 0;
  EXPECT_EQ(DecodeTask(task, &t).code(), Code::kCorruption);

  core::DeadRecord d;
  std::string dead;
  EncodeDead(d, &dead);
  dead[0] = static_cast<char>(kDeadFormatVersion + 1);
  EXPECT_EQ(DecodeDead(dead, &d).code(), Code::kCorruption);
}

TEST(RecordFormatTest, BadEnumsAndHugeCountsAreCorruption) {
  core::DeadRecord d;
  d.task = FullTask();
  std::string dead;
  EncodeDead(d, &dead);
  dead[1] = 0;  // reason
  core::DeadRecord out;
  EXPECT_EQ(DecodeDead(dead, &out).code(), Code::kCorruption);

  core::TaskRecord t;  // no headers, history, redrives: value ends with three zero counts
  std::string v;
  EncodeTask(t, &v);
  ASSERT_EQ(v.back(), '\0');
  v.pop_back();
  v += std::string("\xff\xff\xff\xff\x0f", 5);  // redrive count 2^32-1, no items
  EXPECT_EQ(DecodeTask(v, &t).code(), Code::kCorruption);
  v.resize(v.size() - 5);
  v += std::string("\xff\xff\xff\xff\xff", 5);  // varint overflowing 32 bits
  EXPECT_EQ(DecodeTask(v, &t).code(), Code::kCorruption);

  core::TaskRecord bad_prio;
  bad_prio.priority = core::kPriorityLevels;
  EncodeTask(bad_prio, &v);
  EXPECT_EQ(DecodeTask(v, &t).code(), Code::kCorruption);
}

}  // namespace
}  // namespace sluice::store
