// sluicectl's worker commands (issue 15): the sluicectl binary (path
// compiled in as SLUICECTL_PATH) against the real sluiced: every enqueue flag
// reaches the broker (checked with `task show --json`), enqueue --batch-file
// from a file and from stdin, malformed lines (nothing is enqueued), tasks
// the broker refuses, and heartbeat. The JSON reader it uses has its unit
// tests in tests/unit/common/json_reader_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/client.h"
#include "common/json_reader.h"
#include "integration/broker_process.h"
#include "integration/sluicectl_runner.h"

namespace sluice::ctl {
namespace {

using testing::BrokerProcess;
using testing::CtlResult;
using testing::Describe;
using testing::RunCtl;
using testing::RunCtlJson;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A field of a JSON object as an unsigned integer (0 when absent or not one).
uint64_t U64(const JsonValue& object, std::string_view key) {
  const JsonValue* v = object.Find(key);
  const auto n = v == nullptr ? std::nullopt : v->AsInt64();
  return n && *n >= 0 ? static_cast<uint64_t>(*n) : 0;
}
std::string Text(const JsonValue& object, std::string_view key) {
  const JsonValue* v = object.Find(key);
  return v == nullptr ? "" : v->text();
}

class SluicectlWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()); }

  // sluicectl --broker <the test broker> --json ARGS...
  CtlResult Ctl(std::vector<std::string> args) {
    return RunCtlJson(broker_.address(), std::move(args));
  }
  // The same with stdin read from the file `input` (through /bin/sh, as the
  // harness's runner gives children /dev/null).
  CtlResult CtlWithStdin(const std::string& input, std::vector<std::string> args,
                         bool json = true) {
    std::vector<std::string> sh = {"-c", "in=$1; shift; exec \"$0\" \"$@\" < \"$in\"",
                                   SLUICECTL_PATH, input, "--broker", broker_.address()};
    if (json) sh.push_back("--json");
    sh.insert(sh.end(), args.begin(), args.end());
    const testing::ExitedProcess p = testing::RunProgram("/bin/sh", sh);
    return CtlResult{p.exit_code, p.out, p.err};
  }
  // Runs ARGS (with --json), expects exit 0 and one JSON object.
  JsonValue Ok(std::vector<std::string> args) {
    const CtlResult r = Ctl(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    return JsonOf(r);
  }
  static JsonValue JsonOf(const CtlResult& r) {
    auto v = ParseJson(r.out);
    EXPECT_TRUE(v.ok() && v->type() == JsonValue::Type::kObject)
        << (v.ok() ? "not an object" : v.status().ToString()) << "\n"
        << Describe(r);
    return v.ok() ? *v : JsonValue{};
  }
  JsonValue Show(uint64_t id) { return Ok({"task", "show", std::to_string(id)}); }
  // The ids of an --batch-file run's {"ids": [...]} (0 for null).
  static std::vector<uint64_t> Ids(const JsonValue& j) {
    std::vector<uint64_t> ids;
    const JsonValue* list = j.Find("ids");
    EXPECT_TRUE(list != nullptr && list->type() == JsonValue::Type::kArray);
    if (list == nullptr) return ids;
    for (const JsonValue& v : list->items()) {
      ids.push_back(v.is_null() ? 0 : static_cast<uint64_t>(v.AsInt64().value_or(0)));
    }
    return ids;
  }
  // `queues --json` mentions the queue (it has or had tasks).
  bool QueueExists(const std::string& name) {
    const JsonValue q = Ok({"queues"});
    const JsonValue* list = q.Find("queues");
    if (list == nullptr) return false;
    for (const JsonValue& e : list->items()) {
      if (Text(e, "name") == name) return true;
    }
    return false;
  }
  uint64_t Ready(const std::string& queue) {
    const JsonValue q = Ok({"queues"});
    for (const JsonValue& e : q.Find("queues")->items()) {
      if (Text(e, "name") == queue) return U64(e, "ready");
    }
    return 0;
  }
  // Writes `text` to a file in the broker's work dir; returns its path.
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = broker_.work_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  // Enqueues one task and leases it (the lease's JSON task).
  JsonValue EnqueueAndLease(const std::string& queue, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"enqueue", "--queue", queue, "--payload", "x"};
    args.insert(args.end(), extra.begin(), extra.end());
    Ok(args);
    return LeaseOne(queue);
  }
  // Leases one task of `queue` (the lease's JSON task).
  JsonValue LeaseOne(const std::string& queue) {
    const JsonValue leased = Ok({"lease", "--queue", queue, "--wait", "2000"});
    const JsonValue* tasks = leased.Find("tasks");
    EXPECT_TRUE(tasks != nullptr && tasks->items().size() == 1u);
    return tasks != nullptr && !tasks->items().empty() ? tasks->items()[0] : JsonValue{};
  }

  BrokerProcess broker_;
};

// ---------------------------------------------------------------- enqueue flags

TEST_F(SluicectlWorkerTest, EveryEnqueueFlagReachesTheBroker) {
  const uint64_t before = NowMs();
  const JsonValue e = Ok({"enqueue", "--queue", "jobs", "--tenant", "acme", "--priority", "2",
                          "--delay", "600000", "--payload", "p", "--idempotency-key", "k-1",
                          "--max-attempts", "7", "--header", "a=1", "--header", "b=x=y", "--ttl",
                          "900000", "--cost", "812", "--batch-key", "llama-70b", "--lease",
                          "120000", "--backoff-initial", "2000", "--backoff-max", "64000"});
  const uint64_t id = U64(e, "id");
  ASSERT_GT(id, 0u);
  const JsonValue t = Show(id);
  EXPECT_EQ(Text(t, "state"), "delayed");
  EXPECT_EQ(Text(t, "queue"), "jobs");
  EXPECT_EQ(Text(t, "tenant"), "acme");
  EXPECT_EQ(U64(t, "priority"), 2u);
  EXPECT_EQ(Text(t, "payload"), "p");
  EXPECT_EQ(Text(t, "idempotency_key"), "k-1");
  EXPECT_EQ(U64(t, "max_attempts"), 7u);
  ASSERT_NE(t.Find("headers"), nullptr);
  EXPECT_EQ(Text(*t.Find("headers"), "a"), "1");
  EXPECT_EQ(Text(*t.Find("headers"), "b"), "x=y");
  EXPECT_EQ(U64(t, "cost"), 812u);
  EXPECT_EQ(Text(t, "batch_key"), "llama-70b");
  EXPECT_EQ(U64(t, "lease_ms"), 120000u);
  EXPECT_EQ(U64(t, "backoff_initial_ms"), 2000u);
  EXPECT_EQ(U64(t, "backoff_max_ms"), 64000u);
  const uint64_t enqueued = U64(t, "enqueued_ms");
  EXPECT_GE(enqueued + 1000, before);
  EXPECT_EQ(U64(t, "not_before_ms"), enqueued + 600000) << "--delay";
  EXPECT_EQ(U64(t, "expires_ms"), enqueued + 900000) << "--ttl";
}

TEST_F(SluicectlWorkerTest, TheTasksLeaseIsTheDefaultOfLeaseAndHeartbeat) {
  const JsonValue t = EnqueueAndLease("jobs", {"--lease", "600000"});
  const uint64_t now = NowMs();
  EXPECT_GE(U64(t, "deadline_ms"), now + 590000);
  EXPECT_LE(U64(t, "deadline_ms"), now + 610000);
  // Without --lease a heartbeat extends by the task's own lease too.
  const JsonValue hb = Ok({"heartbeat", Text(t, "token")});
  EXPECT_GE(U64(hb, "deadline_ms"), NowMs() + 590000);
}

TEST_F(SluicectlWorkerTest, NewEnqueueFlagsOutOfRangeAreUsageErrors) {
  struct Bad {
    std::vector<std::string> flags;
    std::string says;
  };
  const std::vector<Bad> bad = {
      {{"--lease", "5"}, "0 or 10 to 43200000"},
      {{"--lease", "43200001"}, "0 or 10 to 43200000"},
      {{"--lease", "-1"}, "0 or 10 to 43200000"},
      {{"--backoff-initial", "86400001"}, "0 to 86400000"},
      {{"--backoff-max", "99999999999999999999"}, "0 to 86400000"},
      {{"--backoff-max", "1.5"}, "0 to 86400000"},
      {{"--cost", "4294967296"}, "0 to 4294967295"},
      {{"--cost", "-3"}, "0 to 4294967295"},
      {{"--backoff-initial", "5000", "--backoff-max", "100"}, "is above --backoff-max 100"},
  };
  for (const Bad& b : bad) {
    std::vector<std::string> args = {"enqueue", "--queue", "jobs", "--payload", "x"};
    args.insert(args.end(), b.flags.begin(), b.flags.end());
    const CtlResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 2) << b.flags[0] << " " << b.flags[1] << "\n" << Describe(r);
    EXPECT_TRUE(Contains(r.err, b.says)) << Describe(r);
    EXPECT_TRUE(Contains(r.err, b.flags.size() == 2 ? b.flags[0] : "--backoff-initial"))
        << "the message names the flag\n"
        << Describe(r);
  }
  EXPECT_FALSE(QueueExists("jobs")) << "nothing may be enqueued";
  // The bounds themselves are accepted.
  for (const std::vector<std::string>& good :
       std::vector<std::vector<std::string>>{{"--lease", "0"},
                                             {"--lease", "10"},
                                             {"--lease", "43200000"},
                                             {"--backoff-initial", "86400000"},
                                             {"--backoff-max", "0"},
                                             {"--cost", "4294967295"}}) {
    std::vector<std::string> args = {"enqueue", "--queue", "jobs", "--payload", "x"};
    args.insert(args.end(), good.begin(), good.end());
    const CtlResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 0) << good[0] << " " << good[1] << "\n" << Describe(r);
  }
}

TEST_F(SluicectlWorkerTest, EnqueueWithoutQueueOrPayloadIsAUsageError) {
  const CtlResult no_queue = Ctl({"enqueue", "--payload", "x"});
  EXPECT_EQ(no_queue.exit_code, 2) << Describe(no_queue);
  EXPECT_TRUE(Contains(no_queue.err, "--queue")) << Describe(no_queue);
  const CtlResult no_payload = Ctl({"enqueue", "--queue", "jobs"});
  EXPECT_EQ(no_payload.exit_code, 2) << Describe(no_payload);
  EXPECT_TRUE(Contains(no_payload.err, "--payload")) << Describe(no_payload);
  const CtlResult bad_header = Ctl({"enqueue", "--queue", "jobs", "--payload", "x", "--header",
                                    "novalue"});
  EXPECT_EQ(bad_header.exit_code, 2) << Describe(bad_header);
  EXPECT_FALSE(QueueExists("jobs"));
}

// ---------------------------------------------------------------- --batch-file

TEST_F(SluicectlWorkerTest, BatchFileLinesTakeMissingFieldsFromTheFlags) {
  const std::string path = WriteFile(
      "tasks.jsonl",
      "{\"payload\": \"a\"}\n"
      "\n"
      "{\"payload\": \"b\\n\\u00e9\\uD83D\\uDE00\", \"priority\": null, \"tenant\": \"beta\"}\r\n"
      "   \t\n"
      "{\"queue\": \"other\", \"payload\": \"c\", \"queue\": \"x\"}\n"  // duplicate key: line 5
      "");
  // Line 5 repeats a key: refused (exit 2), nothing enqueued.
  const CtlResult dup = Ctl({"enqueue", "--queue", "jobs", "--batch-file", path});
  EXPECT_EQ(dup.exit_code, 2) << Describe(dup);
  EXPECT_TRUE(Contains(dup.err, path + " line 5: not JSON: column ")) << Describe(dup);
  EXPECT_TRUE(Contains(dup.err, "duplicate key \"queue\"")) << Describe(dup);
  EXPECT_FALSE(QueueExists("jobs"));

  WriteFile("tasks.jsonl",
            "{\"payload\": \"a\"}\n"
            "\n"
            "{\"payload\": \"b\\n\\u00e9\\uD83D\\uDE00\", \"priority\": null, \"tenant\": \"beta\","
            " \"headers\": {\"h\": \"line\"}}\r\n"
            "   \t\n"
            "{\"queue\": \"other\", \"payload\": \"c\"}");  // no newline at the end
  const JsonValue j = Ok({"enqueue", "--queue", "jobs", "--tenant", "acme", "--priority", "6",
                          "--header", "h=flag", "--cost", "3", "--batch-file", path});
  const std::vector<uint64_t> ids = Ids(j);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);

  const JsonValue a = Show(ids[0]);
  EXPECT_EQ(Text(a, "queue"), "jobs");
  EXPECT_EQ(Text(a, "tenant"), "acme");
  EXPECT_EQ(U64(a, "priority"), 6u);
  EXPECT_EQ(Text(a, "payload"), "a");
  EXPECT_EQ(Text(*a.Find("headers"), "h"), "flag");
  EXPECT_EQ(U64(a, "cost"), 3u);
  const JsonValue b = Show(ids[1]);
  EXPECT_EQ(Text(b, "queue"), "jobs");
  EXPECT_EQ(Text(b, "tenant"), "beta");
  EXPECT_EQ(U64(b, "priority"), 6u) << "null takes the flag's value";
  EXPECT_EQ(Text(b, "payload"), "b\n\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(Text(*b.Find("headers"), "h"), "line") << "the line's headers replace --header";
  const JsonValue c = Show(ids[2]);
  EXPECT_EQ(Text(c, "queue"), "other");
  EXPECT_EQ(Text(c, "payload"), "c");
  EXPECT_EQ(Ready("jobs"), 2u);
  EXPECT_EQ(Ready("other"), 1u);
}

TEST_F(SluicectlWorkerTest, BatchFileLineWithEveryField) {
  const std::string payload_path = WriteFile("payload.bin", std::string("\x00\xFF\x01", 3));
  const std::string path = WriteFile(
      "every.jsonl",
      R"({"queue": "q1", "payload": "p", "tenant": "t1", "priority": 1, "delay": 600000,)"
      R"( "ttl": 900000, "idempotency_key": "ik", "max_attempts": 9, "cost": 77,)"
      R"( "batch_key": "bk", "lease": 45000, "backoff_initial": 1500, "backoff_max": 90000,)"
      R"( "headers": {"traceparent": "00-ab-01", "x": ""}})"
      "\n"
      R"({"queue": "q2", "payload_file": ")" +
          payload_path + "\"}\n");
  const std::vector<uint64_t> ids = Ids(Ok({"enqueue", "--batch-file", path}));
  ASSERT_EQ(ids.size(), 2u);
  const JsonValue t = Show(ids[0]);
  EXPECT_EQ(Text(t, "state"), "delayed");
  EXPECT_EQ(Text(t, "queue"), "q1");
  EXPECT_EQ(Text(t, "payload"), "p");
  EXPECT_EQ(Text(t, "tenant"), "t1");
  EXPECT_EQ(U64(t, "priority"), 1u);
  EXPECT_EQ(U64(t, "not_before_ms"), U64(t, "enqueued_ms") + 600000);
  EXPECT_EQ(U64(t, "expires_ms"), U64(t, "enqueued_ms") + 900000);
  EXPECT_EQ(Text(t, "idempotency_key"), "ik");
  EXPECT_EQ(U64(t, "max_attempts"), 9u);
  EXPECT_EQ(U64(t, "cost"), 77u);
  EXPECT_EQ(Text(t, "batch_key"), "bk");
  EXPECT_EQ(U64(t, "lease_ms"), 45000u);
  EXPECT_EQ(U64(t, "backoff_initial_ms"), 1500u);
  EXPECT_EQ(U64(t, "backoff_max_ms"), 90000u);
  ASSERT_NE(t.Find("headers"), nullptr);
  EXPECT_EQ(Text(*t.Find("headers"), "traceparent"), "00-ab-01");
  EXPECT_EQ(Text(*t.Find("headers"), "x"), "");
  const JsonValue bytes = Show(ids[1]);
  EXPECT_EQ(Text(bytes, "payload_base64"), "AP8B") << "payload_file keeps exact bytes";
}

TEST_F(SluicectlWorkerTest, BatchFileFromStdinPrintsOneIdPerLine) {
  const std::string input = WriteFile("stdin.jsonl",
                                      "{\"payload\": \"one\"}\n{\"payload\": \"two\"}\n"
                                      "{\"payload\": \"three\"}\n");
  const CtlResult r = CtlWithStdin(input, {"enqueue", "--queue", "jobs", "--batch-file", "-"},
                                   /*json=*/false);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::vector<uint64_t> ids;
  size_t begin = 0;
  for (size_t nl; (nl = r.out.find('\n', begin)) != std::string::npos; begin = nl + 1) {
    const std::string line = r.out.substr(begin, nl - begin);
    ASSERT_EQ(line.find_first_not_of("0123456789"), std::string::npos) << Describe(r);
    ids.push_back(std::stoull(line));
  }
  EXPECT_EQ(begin, r.out.size()) << "every id ends with a newline";
  ASSERT_EQ(ids.size(), 3u) << Describe(r);
  EXPECT_EQ(Text(Show(ids[0]), "payload"), "one");
  EXPECT_EQ(Text(Show(ids[2]), "payload"), "three");

  // With --json, from stdin, and the default payload from --payload-file.
  const std::string payload = WriteFile("payload.txt", "from the flag");
  const std::string lines = WriteFile("lines.jsonl", "{}\n{\"priority\": 0}\n");
  const CtlResult j = CtlWithStdin(
      lines, {"enqueue", "--queue", "jobs", "--payload-file", payload, "--batch-file", "-"});
  ASSERT_EQ(j.exit_code, 0) << Describe(j);
  const std::vector<uint64_t> more = Ids(JsonOf(j));
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(Text(Show(more[1]), "payload"), "from the flag");
  EXPECT_EQ(U64(Show(more[1]), "priority"), 0u);

  // An empty input enqueues nothing and says so.
  const std::string empty = WriteFile("empty.jsonl", "\n\n");
  const CtlResult none =
      CtlWithStdin(empty, {"enqueue", "--queue", "jobs", "--batch-file", "-"});
  EXPECT_EQ(none.exit_code, 0) << Describe(none);
  EXPECT_EQ(none.out, "{\"ids\": []}\n");
  EXPECT_TRUE(Contains(none.err, "no tasks in stdin")) << Describe(none);
  EXPECT_EQ(Ready("jobs"), 5u);
}

TEST_F(SluicectlWorkerTest, MalformedBatchLinesEnqueueNothing) {
  struct Bad {
    std::string line;  // the file's line 2 (line 1 is a good task)
    std::string says;
  };
  const std::vector<Bad> bad = {
      {"{\"payload\": \"x\"", "not JSON: column 16: expected ',' or '}'"},
      {"{\"payload\": \"x\"} trailing", "after the JSON value"},
      {"[\"payload\"]", "must be one JSON object"},
      {"\"just a string\"", "must be one JSON object"},
      {"{\"payload\": 5}", "\"payload\" must be a string, not 5"},
      {"{\"payload\": {}}", "\"payload\" must be a string, not an object"},
      {"{\"payload\": \"x\", \"priority\": \"1\"}", "\"priority\" must be an integer from 0 to 7"},
      {"{\"payload\": \"x\", \"priority\": 8}",
       "\"priority\" must be an integer from 0 to 7, not 8"},
      {"{\"payload\": \"x\", \"delay\": -1}", "\"delay\" must be an integer from 0 to 4294967295"},
      {"{\"payload\": \"x\", \"ttl\": 4294967296}", "not 4294967296"},
      {"{\"payload\": \"x\", \"cost\": 1.5}", "\"cost\" must be an integer"},
      {"{\"payload\": \"x\", \"lease\": 5}",
       "\"lease\" must be 0 (the default) or an integer from"
       " 10 to 43200000, not 5"},
      {"{\"payload\": \"x\", \"backoff_max\": 86400001}", "from 0 to 86400000"},
      {"{\"payload\": \"x\", \"backoff_initial\": 9000, \"backoff_max\": 10}",
       "\"backoff_initial\" 9000 is above \"backoff_max\" 10"},
      {"{\"payload\": \"x\", \"max_attempts\": true}", "\"max_attempts\" must be an integer"},
      {"{\"payload\": \"x\", \"headers\": [\"a\"]}", "\"headers\" must be an object"},
      {"{\"payload\": \"x\", \"headers\": {\"a\": 1}}", "header \"a\" must be a string"},
      {"{\"payload\": \"x\", \"prio\": 1}", "unknown field \"prio\""},
      {"{\"payload\": \"x\", \"queue\": \"bad name\"}", "digits 0-9"},
      {"{\"payload\": \"x\", \"tenant\": \"\\n\"}", "tenant"},
      {"{\"priority\": 1}", "no payload"},
      {"{\"payload\": \"x\", \"payload_file\": \"/no/such/file\"}", "not both"},
      {"{\"payload_file\": \"/no/such/file\"}", "cannot read payload_file /no/such/file"},
      {"{\"payload_file\": \"-\"}", "cannot be - (stdin)"},
      {"{\"payload\": \"\\uD800\"}", "high surrogate"},
      {"{\"payload\": \"\xFF\"}", "not UTF-8"},
  };
  for (const Bad& b : bad) {
    const std::string path = WriteFile("bad.jsonl", "{\"payload\": \"good\"}\n" + b.line + "\n");
    const CtlResult r = Ctl({"enqueue", "--queue", "jobs", "--batch-file", path});
    EXPECT_EQ(r.exit_code, 2) << b.line << "\n" << Describe(r);
    EXPECT_TRUE(Contains(r.err, path + " line 2: ")) << b.line << "\n" << Describe(r);
    EXPECT_TRUE(Contains(r.err, b.says)) << b.line << "\n" << Describe(r);
    EXPECT_TRUE(Contains(r.err, "nothing was enqueued")) << Describe(r);
    EXPECT_EQ(r.out, "") << Describe(r);
  }
  // From stdin the message says so.
  const std::string path = WriteFile("bad.jsonl", "{\"payload\": 1}\n");
  const CtlResult r = CtlWithStdin(path, {"enqueue", "--queue", "jobs", "--batch-file", "-"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "stdin line 1: ")) << Describe(r);
  // No queue anywhere.
  const std::string no_queue = WriteFile("noqueue.jsonl", "{\"payload\": \"x\"}\n");
  const CtlResult q = Ctl({"enqueue", "--batch-file", no_queue});
  EXPECT_EQ(q.exit_code, 2) << Describe(q);
  EXPECT_TRUE(Contains(q.err, "line 1: no queue")) << Describe(q);
  EXPECT_FALSE(QueueExists("jobs")) << "nothing may be enqueued";
}

TEST_F(SluicectlWorkerTest, BatchFileFlagConflictsAreUsageErrors) {
  const std::string path = WriteFile("t.jsonl", "{\"payload\": \"x\"}\n");
  const CtlResult key =
      Ctl({"enqueue", "--queue", "jobs", "--idempotency-key", "k", "--batch-file", path});
  EXPECT_EQ(key.exit_code, 2) << Describe(key);
  EXPECT_TRUE(Contains(key.err, "\"idempotency_key\"")) << Describe(key);
  const CtlResult stdin_twice = Ctl({"enqueue", "--queue", "jobs", "--payload-file", "-",
                                     "--batch-file", "-"});
  EXPECT_EQ(stdin_twice.exit_code, 2) << Describe(stdin_twice);
  const CtlResult missing = Ctl({"enqueue", "--queue", "jobs", "--batch-file", path + ".nope"});
  EXPECT_EQ(missing.exit_code, 2) << Describe(missing);
  EXPECT_TRUE(Contains(missing.err, "cannot read --batch-file " + path + ".nope"))
      << Describe(missing);
  const CtlResult dir = Ctl({"enqueue", "--queue", "jobs", "--batch-file", broker_.work_dir()});
  EXPECT_EQ(dir.exit_code, 2) << Describe(dir);
  EXPECT_TRUE(Contains(dir.err, "directory")) << Describe(dir);
  EXPECT_FALSE(QueueExists("jobs"));
}

TEST_F(SluicectlWorkerTest, LargeBatchFilesGoInSeveralRequests) {
  // 2500 small tasks: three requests of at most 1000.
  std::string lines;
  for (int i = 0; i < 2500; ++i) lines += "{\"payload\": \"t" + std::to_string(i) + "\"}\n";
  const std::vector<uint64_t> ids =
      Ids(Ok({"enqueue", "--queue", "many", "--batch-file", WriteFile("many.jsonl", lines)}));
  ASSERT_EQ(ids.size(), 2500u);
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_LT(ids[i - 1], ids[i]) << i;
  EXPECT_EQ(Ready("many"), 2500u);
  EXPECT_EQ(Text(Show(ids[2499]), "payload"), "t2499");

}

// Requests stay within half the frame the broker announces: with a 3 MiB
// frame, 900 KB tasks go one per request (four per 4 MiB request would be
// refused as too large).
TEST(SluicectlBatchFrameTest, BatchRequestsFitTheBrokersFrame) {
  BrokerProcess broker(testing::WithConfig(
      "[limits]\nmax_payload_bytes = 1048576\nmax_frame_bytes = 3145728\n"));
  ASSERT_TRUE(broker.Start());
  const std::string big(900'000, 'b');
  std::string lines;
  for (int i = 0; i < 6; ++i) lines += "{\"payload\": \"" + big + "\"}\n";
  const std::string path = broker.work_dir() + "/big.jsonl";
  std::ofstream(path, std::ios::binary) << lines;
  const CtlResult r = RunCtl({"--broker", broker.address(), "--json", "enqueue", "--queue", "big",
                              "--batch-file", path});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto j = ParseJson(r.out);
  ASSERT_TRUE(j.ok()) << Describe(r);
  ASSERT_NE(j->Find("ids"), nullptr);
  EXPECT_EQ(j->Find("ids")->items().size(), 6u);
  const CtlResult q = RunCtl({"--broker", broker.address(), "--json", "queues"});
  EXPECT_TRUE(Contains(q.out, "\"name\": \"big\", \"ready\": 6,")) << Describe(q);
}

TEST_F(SluicectlWorkerTest, ATaskTheBrokerRefusesNamesItsLine) {
  // max_attempts above 1000: in range for sluicectl, refused by the broker.
  const std::string path = WriteFile("refused.jsonl",
                                     "{\"payload\": \"a\"}\n\n{\"payload\": \"b\", "
                                     "\"max_attempts\": 5000}\n{\"payload\": \"c\"}\n");
  const CtlResult r = Ctl({"enqueue", "--queue", "jobs", "--batch-file", path});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, path + " line 3: INVALID_ARGUMENT")) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "2 of 3 tasks were enqueued, 1 refused")) << Describe(r);
  const std::vector<uint64_t> ids = Ids(JsonOf(r));
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_GT(ids[0], 0u);
  EXPECT_EQ(ids[1], 0u) << "null for the refused task";
  EXPECT_GT(ids[2], 0u);
  EXPECT_EQ(Ready("jobs"), 2u);

  // Refused in the first of two requests: the rest of that request went in,
  // the second request was not sent.
  std::string lines;
  for (int i = 1; i <= 1500; ++i) {
    lines += i == 10 ? "{\"payload\": \"x\", \"max_attempts\": 1001}\n" : "{\"payload\": \"x\"}\n";
  }
  const CtlResult split =
      Ctl({"enqueue", "--queue", "split", "--batch-file", WriteFile("split.jsonl", lines)});
  EXPECT_EQ(split.exit_code, 1) << Describe(split);
  EXPECT_TRUE(Contains(split.err, "line 10: INVALID_ARGUMENT")) << Describe(split);
  EXPECT_TRUE(Contains(split.err, "999 of 1500 tasks were enqueued, 1 refused; the tasks from"
                                  " line 1001 on were not sent"))
      << Describe(split);
  EXPECT_EQ(Ready("split"), 999u);
  const std::vector<uint64_t> split_ids = Ids(JsonOf(split));
  ASSERT_EQ(split_ids.size(), 1500u);
  EXPECT_EQ(split_ids[9], 0u);
  EXPECT_GT(split_ids[999], 0u);
  EXPECT_EQ(split_ids[1000], 0u);

  // Without --json: "-" stands for a task not enqueued.
  const CtlResult text = RunCtl({"--broker", broker_.address(), "enqueue", "--queue", "jobs",
                                 "--batch-file", path});
  EXPECT_EQ(text.exit_code, 1) << Describe(text);
  EXPECT_TRUE(Contains(text.out, "\n-\n")) << Describe(text);
}

// ---------------------------------------------------------------- heartbeat

TEST_F(SluicectlWorkerTest, HeartbeatExtendsTheLease) {
  const JsonValue t = EnqueueAndLease("jobs", {"--lease", "10000"});
  const std::string token = Text(t, "token");
  const uint64_t first = U64(t, "deadline_ms");
  ASSERT_GT(first, 0u);
  const JsonValue hb = Ok({"heartbeat", token, "--lease", "600000"});
  EXPECT_EQ(Text(hb, "token"), token);
  const uint64_t deadline = U64(hb, "deadline_ms");
  EXPECT_GE(deadline, first + 590000);
  EXPECT_GE(deadline, NowMs() + 590000);
  const JsonValue shown = Show(U64(t, "id"));
  EXPECT_EQ(Text(shown, "state"), "leased");
  EXPECT_EQ(U64(shown, "lease_deadline_ms"), deadline);

  // People get the deadline as UTC ISO-8601.
  const CtlResult text =
      RunCtl({"--broker", broker_.address(), "heartbeat", token, "--lease", "300000"});
  EXPECT_EQ(text.exit_code, 0) << Describe(text);
  EXPECT_TRUE(Contains(text.out, "lease " + token + " of task ")) << Describe(text);
  EXPECT_TRUE(Contains(text.out, "now ends at 20")) << Describe(text);
  EXPECT_TRUE(Contains(text.out, "Z\n")) << Describe(text);

  // Out of range, or not a token: usage errors.
  const CtlResult short_lease = Ctl({"heartbeat", token, "--lease", "5"});
  EXPECT_EQ(short_lease.exit_code, 2) << Describe(short_lease);
  EXPECT_TRUE(Contains(short_lease.err, "0 or 10 to 43200000")) << Describe(short_lease);
  const CtlResult not_token = Ctl({"heartbeat", "12"});
  EXPECT_EQ(not_token.exit_code, 2) << Describe(not_token);
  const CtlResult none = Ctl({"heartbeat"});
  EXPECT_EQ(none.exit_code, 2) << Describe(none);
}

TEST_F(SluicectlWorkerTest, HeartbeatOnAStaleTokenExitsOne) {
  // A nack ends the attempt; the task is ready again, its old token stale.
  const JsonValue t = EnqueueAndLease("jobs");
  const std::string token = Text(t, "token");
  Ok({"nack", token, "--delay", "0"});
  const CtlResult r = Ctl({"heartbeat", token});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "sluicectl: heartbeat: STALE_LEASE: lease " + token))
      << Describe(r);
  EXPECT_TRUE(Contains(r.err, "lease the task again")) << Describe(r);
  EXPECT_EQ(r.out, "");
  // The token of a task that is gone (acked): exit 1 with the broker's answer.
  const JsonValue again = LeaseOne("jobs");
  Ok({"ack", Text(again, "token")});
  const CtlResult acked = Ctl({"heartbeat", Text(again, "token")});
  EXPECT_EQ(acked.exit_code, 1) << Describe(acked);
  EXPECT_TRUE(Contains(acked.err, "sluicectl: heartbeat: NOT_FOUND")) << Describe(acked);
}

TEST_F(SluicectlWorkerTest, HeartbeatOnACancelledTaskSaysSo) {
  const JsonValue t = EnqueueAndLease("jobs");
  const uint64_t id = U64(t, "id");
  client::ClientOptions options;
  options.host = broker_.host();
  options.port = broker_.port();
  auto operator_client = client::Client::Connect(options);
  ASSERT_TRUE(operator_client.ok()) << operator_client.status().ToString();
  auto cancelled = (*operator_client)->TaskCancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(*cancelled, client::CancelOutcome::kCancelling);

  const CtlResult r = Ctl({"heartbeat", Text(t, "token")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "sluicectl: heartbeat: CANCELLED")) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "an operator cancelled task " + std::to_string(id)))
      << Describe(r);
  EXPECT_TRUE(Contains(r.err, "stop working on it")) << Describe(r);
  const JsonValue shown = Show(id);
  EXPECT_EQ(Text(shown, "state"), "dead");
  EXPECT_EQ(Text(shown, "dead_reason"), "cancelled");
}


}  // namespace
}  // namespace sluice::ctl
