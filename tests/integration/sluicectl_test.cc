// End-to-end tests of the sluicectl binary (path compiled in as SLUICECTL_PATH)
// against the real sluiced started by the integration harness. Every command
// runs with --json and its one-line JSON output is parsed and checked.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "client/client.h"
#include "store/rocks_store.h"
#include "integration/broker_process.h"
#include "integration/sluicectl_runner.h"

namespace sluice::testing {
namespace {

// ---------------------------------------------------------------- JSON
// A minimal JSON reader, enough to check sluicectl's output. Numbers keep
// their text so 64-bit ids compare exactly.
struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  std::string text;  // kString value or kNumber text
  std::vector<Json> array;
  std::map<std::string, Json> object;

  const Json& operator[](const std::string& key) const {
    static const Json kMissing;
    auto it = object.find(key);
    return it == object.end() ? kMissing : it->second;
  }
  const Json& operator[](size_t i) const { return array.at(i); }
  bool Has(const std::string& key) const { return object.count(key) != 0; }
  uint64_t u64() const { return std::strtoull(text.c_str(), nullptr, 10); }
  double num() const { return std::strtod(text.c_str(), nullptr); }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  bool Parse(Json* out) {
    if (!Value(out)) return false;
    Skip();
    return i_ == s_.size();
  }

 private:
  void Skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' ||
                              s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool Literal(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  bool String(std::string* out) {
    if (s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') {
        if (++i_ >= s_.size()) return false;
        const char c = s_[i_++];
        switch (c) {
          case 'n': out->push_back('\n'); break;
          case 't': out->push_back('\t'); break;
          case 'r': out->push_back('\r'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'u': {
            if (i_ + 4 > s_.size()) return false;
            const unsigned v = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
            i_ += 4;
            if (v < 0x80) {
              out->push_back(static_cast<char>(v));
            } else {
              out->append("?");  // non-ASCII escapes are not compared by these tests
            }
            break;
          }
          default: out->push_back(c);
        }
      } else {
        out->push_back(s_[i_++]);
      }
    }
    if (i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  bool Value(Json* out) {
    Skip();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      out->type = Json::Type::kObject;
      ++i_;
      Skip();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
      while (true) {
        Skip();
        std::string key;
        if (!String(&key)) return false;
        Skip();
        if (i_ >= s_.size() || s_[i_] != ':') return false;
        ++i_;
        if (!Value(&out->object[key])) return false;
        Skip();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
        return false;
      }
    }
    if (c == '[') {
      out->type = Json::Type::kArray;
      ++i_;
      Skip();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
      while (true) {
        out->array.emplace_back();
        if (!Value(&out->array.back())) return false;
        Skip();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
        return false;
      }
    }
    if (c == '"') {
      out->type = Json::Type::kString;
      return String(&out->text);
    }
    if (Literal("true")) {
      out->type = Json::Type::kBool;
      out->boolean = true;
      return true;
    }
    if (Literal("false")) {
      out->type = Json::Type::kBool;
      return true;
    }
    if (Literal("null")) return true;
    out->type = Json::Type::kNumber;
    const size_t start = i_;
    while (i_ < s_.size() && std::string("+-0123456789.eE").find(s_[i_]) != std::string::npos) {
      ++i_;
    }
    out->text = s_.substr(start, i_ - start);
    return !out->text.empty();
  }

  const std::string& s_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------- running

// sluicectl's run (integration/sluicectl_runner.h) with its stdout parsed as
// JSON.
struct CtlJsonResult : CtlResult {
  Json json;
  bool json_ok = false;
};

CtlJsonResult RunCtlJson(const std::vector<std::string>& args) {
  CtlJsonResult r;
  static_cast<CtlResult&>(r) = RunCtl(args);
  r.json_ok = JsonParser(r.out).Parse(&r.json);
  return r;
}

class SluicectlTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()); }

  // sluicectl --broker <the test broker> --json args...; asserts exit 0 and
  // one JSON object on stdout.
  Json Ok(std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", broker_.address(), "--json"});
    const CtlJsonResult r = RunCtlJson(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_TRUE(r.json_ok && r.json.type == Json::Type::kObject) << Describe(r);
    return r.json;
  }
  CtlJsonResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--broker", broker_.address(), "--json"});
    return RunCtlJson(args);
  }

  uint64_t Enqueue(const std::string& queue, const std::string& payload,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"enqueue", "--queue", queue, "--payload", payload};
    args.insert(args.end(), extra.begin(), extra.end());
    const Json j = Ok(args);
    EXPECT_EQ(j["id"].type, Json::Type::kNumber);
    return j["id"].u64();
  }

  // The queue's entry of `queues --json`, or a null Json.
  static Json QueueEntry(const Json& queues, const std::string& name) {
    for (const auto& q : queues["queues"].array) {
      if (q["name"].text == name) return q;
    }
    return {};
  }

  // Leases one task of `queue`; asserts one came back.
  Json LeaseOne(const std::string& queue) {
    const Json j = Ok({"lease", "--queue", queue, "--count", "1", "--wait", "2000"});
    EXPECT_EQ(j["tasks"].array.size(), 1u) << "no task leased from " << queue;
    return j["tasks"].array.empty() ? Json{} : j["tasks"][0];
  }

  BrokerProcess broker_;
};

TEST_F(SluicectlTest, EnqueueQueuesLeaseAck) {
  const uint64_t id = Enqueue("jobs", "hello \"world\"\n", {"--tenant", "acme", "--priority", "2",
                                                          "--header", "traceparent=00-abc-01"});
  ASSERT_GT(id, 0u);

  Json q = QueueEntry(Ok({"queues"}), "jobs");
  ASSERT_EQ(q.type, Json::Type::kObject);
  EXPECT_EQ(q["ready"].u64(), 1u);
  EXPECT_EQ(q["delayed"].u64(), 0u);
  EXPECT_EQ(q["leased"].u64(), 0u);
  EXPECT_EQ(q["dead"].u64(), 0u);

  const Json t = LeaseOne("jobs");
  EXPECT_EQ(t["id"].u64(), id);
  EXPECT_EQ(t["queue"].text, "jobs");
  EXPECT_EQ(t["tenant"].text, "acme");
  EXPECT_EQ(t["priority"].u64(), 2u);
  EXPECT_EQ(t["attempt"].u64(), 1u);
  EXPECT_EQ(t["payload"].text, "hello \"world\"\n");
  EXPECT_EQ(t["headers"]["traceparent"].text, "00-abc-01");
  const std::string token = t["token"].text;
  EXPECT_EQ(token.rfind(std::to_string(id) + ".1.", 0), 0u) << token;

  q = QueueEntry(Ok({"queues"}), "jobs");
  EXPECT_EQ(q["ready"].u64(), 0u);
  EXPECT_EQ(q["leased"].u64(), 1u);

  const Json shown = Ok({"task", "show", std::to_string(id)});
  EXPECT_EQ(shown["state"].text, "leased");
  EXPECT_FALSE(shown["lease_holder"].text.empty());
  EXPECT_GT(shown["lease_deadline_ms"].u64(), 0u);

  const Json acked = Ok({"ack", token});
  EXPECT_EQ(acked["acked"].u64(), 1u);

  q = QueueEntry(Ok({"queues"}), "jobs");
  EXPECT_EQ(q["ready"].u64(), 0u);
  EXPECT_EQ(q["leased"].u64(), 0u);

  // The same token again: the task is gone (NOT_FOUND), exit 1 and a message.
  const CtlJsonResult again = Run({"ack", token});
  EXPECT_EQ(again.exit_code, 1) << Describe(again);
  EXPECT_NE(again.err.find("NOT_FOUND"), std::string::npos) << Describe(again);
}

TEST_F(SluicectlTest, IdempotentEnqueueSaysDuplicate) {
  const Json first = Ok({"enqueue", "--queue", "jobs", "--payload", "a", "--idempotency-key",
                         "k1"});
  const Json second = Ok({"enqueue", "--queue", "jobs", "--payload", "a", "--idempotency-key",
                          "k1"});
  EXPECT_FALSE(first["duplicate"].boolean);
  EXPECT_TRUE(second["duplicate"].boolean);
  EXPECT_EQ(first["id"].u64(), second["id"].u64());
}

TEST_F(SluicectlTest, FatalNackDeadLetterThenRedrive) {
  const uint64_t id = Enqueue("jobs", "payload-1");
  const Json t = LeaseOne("jobs");
  ASSERT_EQ(t["id"].u64(), id);
  const Json nacked = Ok({"nack", t["token"].text, "--error", "model OOM at step 12", "--fatal"});
  EXPECT_TRUE(nacked["dead"].boolean);

  const Json list = Ok({"dlq", "list", "--queue", "jobs"});
  ASSERT_EQ(list["entries"].array.size(), 1u);
  EXPECT_EQ(list["entries"][0]["id"].u64(), id);
  EXPECT_EQ(list["entries"][0]["reason"].text, "fatal_error");
  EXPECT_EQ(list["entries"][0]["last_error"].text, "model OOM at step 12");
  EXPECT_FALSE(list["has_more"].boolean);

  EXPECT_EQ(Ok({"dlq", "list", "--error-contains", "OOM"})["entries"].array.size(), 1u);
  EXPECT_EQ(Ok({"dlq", "list", "--error-contains", "nope"})["entries"].array.size(), 0u);
  EXPECT_EQ(Ok({"dlq", "list", "--reason", "ttl_expired"})["entries"].array.size(), 0u);

  const Json shown = Ok({"dlq", "show", std::to_string(id)});
  EXPECT_EQ(shown["state"].text, "dead");
  EXPECT_EQ(shown["dead_reason"].text, "fatal_error");
  ASSERT_EQ(shown["attempts"].array.size(), 1u);
  EXPECT_EQ(shown["attempts"][0]["error"].text, "model OOM at step 12");
  EXPECT_EQ(shown["attempts"][0]["outcome"].text, "nacked_fatal");
  EXPECT_EQ(QueueEntry(Ok({"queues"}), "jobs")["dead"].u64(), 1u);

  const Json redriven = Ok({"dlq", "redrive", std::to_string(id)});
  EXPECT_EQ(redriven["redriven"].u64(), 1u);
  EXPECT_EQ(Ok({"dlq", "list"})["entries"].array.size(), 0u);

  const Json again = LeaseOne("jobs");
  EXPECT_EQ(again["id"].u64(), id);
  EXPECT_EQ(again["attempt"].u64(), 2u)
      << "a redrive starts a new run; attempt numbers go on over the task's life";
  EXPECT_EQ(again["payload"].text, "payload-1");
}

TEST_F(SluicectlTest, DlqPagingPacedRedriveAndPurge) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Enqueue("batch", "p" + std::to_string(i)));
  for (int i = 0; i < 5; ++i) {
    const Json t = LeaseOne("batch");
    Ok({"nack", t["token"].text, "--error", "bad input " + std::to_string(i), "--fatal"});
  }
  const Json page1 = Ok({"dlq", "list", "--queue", "batch", "--limit", "2"});
  ASSERT_EQ(page1["entries"].array.size(), 2u);
  EXPECT_TRUE(page1["has_more"].boolean);
  const Json page2 = Ok({"dlq", "list", "--queue", "batch", "--limit", "10", "--after",
                         page1["next_after"].text});
  EXPECT_EQ(page2["entries"].array.size(), 3u);
  EXPECT_FALSE(page2["has_more"].boolean);
  EXPECT_GT(page2["entries"][0]["id"].u64(), page1["entries"][1]["id"].u64());

  // Paced: 3 of them at 20/s with filters, in chunks.
  const Json redriven = Ok({"dlq", "redrive", "--queue", "batch", "--rate", "20", "--limit", "3"});
  EXPECT_EQ(redriven["redriven"].u64(), 3u);
  EXPECT_EQ(QueueEntry(Ok({"queues"}), "batch")["ready"].u64(), 3u);
  EXPECT_EQ(QueueEntry(Ok({"queues"}), "batch")["dead"].u64(), 2u);

  // Purge needs --yes for people; --json is for scripts and needs none.
  const CtlJsonResult refused =
      RunCtlJson({"--broker", broker_.address(), "dlq", "purge", "--queue", "batch"});
  EXPECT_EQ(refused.exit_code, 2) << Describe(refused);
  const Json purged = Ok({"dlq", "purge", "--queue", "batch"});
  EXPECT_EQ(purged["purged"].u64(), 2u);
  EXPECT_EQ(QueueEntry(Ok({"queues"}), "batch")["dead"].u64(), 0u);
}

TEST_F(SluicectlTest, TenantSetThenList) {
  const Json set = Ok({"tenant", "set", "acme", "--weight", "3", "--rate", "50", "--burst", "10",
                       "--max-inflight", "4"});
  EXPECT_EQ(set["tenant"]["name"].text, "acme");
  EXPECT_EQ(set["tenant"]["weight"].u64(), 3u);
  EXPECT_EQ(set["tenant"]["rate"].num(), 50.0);
  EXPECT_EQ(set["tenant"]["burst"].u64(), 10u);
  EXPECT_EQ(set["tenant"]["max_inflight"].u64(), 4u);

  Enqueue("jobs", "x", {"--tenant", "acme"});
  const Json list = Ok({"tenant", "list"});
  const Json* acme = nullptr;
  for (const auto& t : list["tenants"].array) {
    if (t["name"].text == "acme") acme = &t;
  }
  ASSERT_NE(acme, nullptr) << "tenant list lacks acme";
  EXPECT_EQ((*acme)["weight"].u64(), 3u);
  EXPECT_EQ((*acme)["rate"].num(), 50.0);
  EXPECT_EQ((*acme)["burst"].u64(), 10u);
  EXPECT_EQ((*acme)["max_inflight"].u64(), 4u);
  for (const char* field : {"ready", "inflight", "throttled_ms", "dispatched_last_minute",
                            "share_last_minute"}) {
    EXPECT_TRUE(acme->Has(field)) << field;
  }

  const CtlJsonResult bad = Run({"tenant", "set", "acme", "--weight", "0"});
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
}

// The tenant's entry of `tenant list --json`, or a null Json.
Json TenantEntry(const Json& list, const std::string& name) {
  for (const auto& t : list["tenants"].array) {
    if (t["name"].text == name) return t;
  }
  return {};
}

TEST_F(SluicectlTest, TenantRateUnitRoundTripsAndAPartialSetKeepsIt) {
  const Json set = Ok({"tenant", "set", "t", "--rate", "100", "--rate-unit", "cost"});
  EXPECT_EQ(set["tenant"]["rate"].num(), 100.0);
  EXPECT_EQ(set["tenant"]["rate_unit"].text, "cost");
  Json t = TenantEntry(Ok({"tenant", "list"}), "t");
  EXPECT_EQ(t["rate"].num(), 100.0);
  EXPECT_EQ(t["rate_unit"].text, "cost");

  // People see the unit next to the rate.
  const CtlJsonResult table = RunCtlJson({"--broker", broker_.address(), "tenant", "list"});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_NE(table.out.find("100 cost/s"), std::string::npos) << Describe(table);

  // Leaving --rate-unit out keeps it (the broker reads, modifies, writes).
  const CtlJsonResult partial =
      RunCtlJson({"--broker", broker_.address(), "tenant", "set", "t", "--weight", "2"});
  ASSERT_EQ(partial.exit_code, 0) << Describe(partial);
  EXPECT_NE(partial.out.find("weight 2, rate 100 cost/s"), std::string::npos) << Describe(partial);
  t = TenantEntry(Ok({"tenant", "list"}), "t");
  EXPECT_EQ(t["weight"].u64(), 2u);
  EXPECT_EQ(t["rate"].num(), 100.0);
  EXPECT_EQ(t["rate_unit"].text, "cost");

  // A unit that does not exist is a usage error that names the flag and the
  // choices, and changes nothing.
  const CtlJsonResult bad = Run({"tenant", "set", "t", "--rate-unit", "tokens"});
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
  EXPECT_NE(bad.err.find("--rate-unit"), std::string::npos) << Describe(bad);
  EXPECT_NE(bad.err.find("tokens"), std::string::npos) << Describe(bad);
  EXPECT_NE(bad.err.find("{tasks,cost}"), std::string::npos) << Describe(bad);
  EXPECT_EQ(TenantEntry(Ok({"tenant", "list"}), "t")["rate_unit"].text, "cost");

  // The unit is stored with the tenant's limits: it survives a restart.
  ASSERT_EQ(broker_.Stop(), 0);
  ASSERT_TRUE(broker_.Restart());
  t = TenantEntry(Ok({"tenant", "list"}), "t");
  EXPECT_EQ(t["rate_unit"].text, "cost");
  EXPECT_EQ(t["weight"].u64(), 2u);
  EXPECT_EQ(TenantEntry(Ok({"stats"}), "t")["rate_unit"].text, "cost");

  // And back to tasks, which reads "100/s".
  EXPECT_EQ(Ok({"tenant", "set", "t", "--rate-unit", "tasks"})["tenant"]["rate_unit"].text,
            "tasks");
  const CtlJsonResult tasks = RunCtlJson({"--broker", broker_.address(), "tenant", "list"});
  ASSERT_EQ(tasks.exit_code, 0) << Describe(tasks);
  EXPECT_NE(tasks.out.find("100/s"), std::string::npos) << Describe(tasks);
  EXPECT_EQ(tasks.out.find("cost"), std::string::npos) << Describe(tasks);
  // A tenant nobody set counts tasks.
  Enqueue("jobs", "x", {"--tenant", "fresh"});
  EXPECT_EQ(TenantEntry(Ok({"tenant", "list"}), "fresh")["rate_unit"].text, "tasks");
}

TEST_F(SluicectlTest, PausedQueueLeasesNothingUntilResumed) {
  const uint64_t id = Enqueue("gpu", "x");
  Ok({"queue", "pause", "gpu"});
  EXPECT_TRUE(QueueEntry(Ok({"queues"}), "gpu")["paused"].boolean);
  const Json none = Ok({"lease", "--queue", "gpu", "--wait", "200"});
  EXPECT_EQ(none["tasks"].array.size(), 0u);
  Ok({"queue", "resume", "gpu"});
  EXPECT_FALSE(QueueEntry(Ok({"queues"}), "gpu")["paused"].boolean);
  EXPECT_EQ(LeaseOne("gpu")["id"].u64(), id);
}

// ------------------------------------------------------ operator control

TEST_F(SluicectlTest, TaskCancelReadyAndLeased) {
  const uint64_t ready = Enqueue("jobs", "a");
  Json c = Ok({"task", "cancel", std::to_string(ready)});
  EXPECT_EQ(c["outcome"].text, "cancelled");
  Json shown = Ok({"task", "show", std::to_string(ready)});
  EXPECT_EQ(shown["state"].text, "dead");
  EXPECT_EQ(shown["dead_reason"].text, "cancelled");
  EXPECT_EQ(Ok({"task", "cancel", std::to_string(ready)})["outcome"].text, "already_dead");
  // Dead letters can be filtered by the new reason.
  const Json dead = Ok({"dlq", "list", "--reason", "cancelled"});
  ASSERT_EQ(dead["entries"].array.size(), 1u);
  EXPECT_EQ(dead["entries"][0]["id"].u64(), ready);

  const uint64_t leased = Enqueue("jobs", "b");
  const Json t = LeaseOne("jobs");
  ASSERT_EQ(t["id"].u64(), leased);
  EXPECT_EQ(Ok({"task", "cancel", std::to_string(leased)})["outcome"].text, "cancelling");
  EXPECT_EQ(Ok({"task", "show", std::to_string(leased)})["state"].text, "leased");
  // Its holder learns on its next heartbeat (the worker loop's path; here the
  // raw nack, which ends the attempt the same way: dead, cancelled).
  Ok({"nack", t["token"].text, "--error", "stopping"});
  shown = Ok({"task", "show", std::to_string(leased)});
  EXPECT_EQ(shown["state"].text, "dead");
  EXPECT_EQ(shown["dead_reason"].text, "cancelled");

  const CtlJsonResult missing = Run({"task", "cancel", "999999"});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_NE(missing.err.find("NOT_FOUND"), std::string::npos) << Describe(missing);
}

TEST_F(SluicectlTest, TaskSetPriorityAndTasksListInDispatchOrder) {
  const uint64_t a = Enqueue("jobs", "a", {"--priority", "6"});
  const uint64_t b = Enqueue("jobs", "b", {"--priority", "6"});
  const uint64_t c = Enqueue("jobs", "c", {"--priority", "6", "--tenant", "acme"});
  const Json set = Ok({"task", "set-priority", std::to_string(c), "1"});
  EXPECT_EQ(set["priority"].u64(), 1u);

  // Two per page, then the next page from the cursor the first one named.
  Json page = Ok({"tasks", "--queue", "jobs", "--limit", "2"});
  ASSERT_EQ(page["tasks"].array.size(), 2u);
  EXPECT_EQ(page["tasks"][0]["id"].u64(), c);
  EXPECT_EQ(page["tasks"][0]["priority"].u64(), 1u);
  EXPECT_EQ(page["tasks"][0]["tenant"].text, "acme");
  EXPECT_EQ(page["tasks"][0]["state"].text, "ready");
  EXPECT_EQ(page["tasks"][1]["id"].u64(), a);
  ASSERT_TRUE(page["has_more"].boolean);
  page = Ok({"tasks", "--queue", "jobs", "--limit", "2", "--after",
             page["next_after"].text, "--after-priority", page["next_after_priority"].text});
  ASSERT_EQ(page["tasks"].array.size(), 1u);
  EXPECT_EQ(page["tasks"][0]["id"].u64(), b);
  EXPECT_FALSE(page["has_more"].boolean);

  // The lease goes to the reprioritized task; the list shows its holder.
  const Json t = LeaseOne("jobs");
  EXPECT_EQ(t["id"].u64(), c);
  page = Ok({"tasks", "--queue", "jobs", "--state", "leased"});
  ASSERT_EQ(page["tasks"].array.size(), 1u);
  EXPECT_FALSE(page["tasks"][0]["worker"].text.empty());
  EXPECT_GT(page["tasks"][0]["lease_deadline_ms"].u64(), 0u);
  EXPECT_EQ(Ok({"tasks", "--queue", "jobs", "--all"})["tasks"].array.size(), 3u);

  EXPECT_EQ(Run({"task", "set-priority", std::to_string(a), "8"}).exit_code, 2);
  EXPECT_EQ(Run({"tasks", "--queue", "jobs", "--state", "dead"}).exit_code, 2);
  EXPECT_EQ(Run({"tasks", "--queue", "nope"}).exit_code, 1);
}

TEST_F(SluicectlTest, QueuePurgeDeleteAndSet) {
  for (int i = 0; i < 4; ++i) Enqueue("jobs", "x", {"--tenant", i % 2 ? "acme" : "beta"});
  // People must confirm (scripts with --json are trusted, as for dlq purge).
  const CtlResult unconfirmed =
      RunCtl({"--broker", broker_.address(), "queue", "purge", "jobs"});
  EXPECT_EQ(unconfirmed.exit_code, 2) << Describe(unconfirmed);
  EXPECT_NE(unconfirmed.err.find("--yes"), std::string::npos) << Describe(unconfirmed);
  EXPECT_EQ(Ok({"queue", "purge", "jobs", "--tenant", "acme", "--yes"})["purged"].u64(), 2u);
  EXPECT_EQ(QueueEntry(Ok({"queues"}), "jobs")["ready"].u64(), 2u);
  EXPECT_EQ(Ok({"queue", "purge", "jobs", "--yes"})["purged"].u64(), 2u);

  // queue set: a typo is refused unless --create; the limits show in queues.
  const CtlJsonResult typo = Run({"queue", "set", "jbos", "--rate", "5"});
  EXPECT_EQ(typo.exit_code, 1) << Describe(typo);
  EXPECT_NE(typo.err.find("--create"), std::string::npos) << Describe(typo);
  const Json set = Ok({"queue", "set", "jobs", "--rate", "5", "--max-inflight", "3"});
  EXPECT_EQ(set["queue"]["max_inflight"].u64(), 3u);
  Json q = QueueEntry(Ok({"queues"}), "jobs");
  EXPECT_EQ(q["rate"].num(), 5.0);
  EXPECT_EQ(q["max_inflight"].u64(), 3u);
  EXPECT_EQ(Run({"queue", "set", "jobs"}).exit_code, 2);  // nothing to change
  const CtlResult table = RunCtl({"--broker", broker_.address(), "queues"});
  EXPECT_NE(table.out.find("MAX_INFLIGHT"), std::string::npos) << Describe(table);

  // queue delete: refused while leased unless --force.
  Enqueue("jobs", "y");
  LeaseOne("jobs");
  const CtlJsonResult refused = Run({"queue", "delete", "jobs", "--yes"});
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_NE(refused.err.find("FAILED_PRECONDITION"), std::string::npos) << Describe(refused);
  const Json del = Ok({"queue", "delete", "jobs", "--yes", "--force"});
  EXPECT_EQ(del["deleted_tasks"].u64(), 1u);
  EXPECT_EQ(QueueEntry(Ok({"queues"}), "jobs").type, Json::Type::kNull);
}

TEST_F(SluicectlTest, AckOfAnUnknownTaskSaysNotFound) {
  const CtlJsonResult r = Run({"ack", "999999.1.1"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << Describe(r);
}

TEST_F(SluicectlTest, PausingAnUnknownQueueNeedsCreate) {
  const CtlJsonResult typo = Run({"queue", "pause", "typo-q"});
  EXPECT_EQ(typo.exit_code, 1) << Describe(typo);
  EXPECT_NE(typo.err.find("NOT_FOUND"), std::string::npos) << Describe(typo);
  EXPECT_NE(typo.err.find("create"), std::string::npos) << Describe(typo);
  EXPECT_EQ(QueueEntry(Ok({"queues"}), "typo-q").type, Json::Type::kNull);
  EXPECT_TRUE(Ok({"queue", "pause", "fresh-q", "--create"})["paused"].boolean);
  EXPECT_TRUE(QueueEntry(Ok({"queues"}), "fresh-q")["paused"].boolean);
}

TEST_F(SluicectlTest, TaskShowJournalIsAnOperatorsRead) {
  const uint64_t id = Enqueue("jobs", "a");
  const Json t = LeaseOne("jobs");
  ASSERT_EQ(t["id"].u64(), id);
  sluice::client::ClientOptions o;
  o.host = broker_.host();
  o.port = broker_.port();
  auto c = sluice::client::Client::Connect(o);
  ASSERT_TRUE(c.ok());
  auto token = sluice::client::LeaseToken::Parse(t["token"].text);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  ASSERT_TRUE((*c)->JournalPut(*token, "charge", "receipt-7").ok());
  EXPECT_TRUE(Ok({"task", "show", std::to_string(id)})["journal"].array.empty());
  const Json shown = Ok({"task", "show", std::to_string(id), "--journal"});
  ASSERT_EQ(shown["journal"].array.size(), 1u);
  EXPECT_EQ(shown["journal"][0]["step"].text, "charge");
}

TEST_F(SluicectlTest, StatsHasTotals) {
  Enqueue("a", "1");
  Enqueue("b", "2", {"--delay", "60000"});
  const Json stats = Ok({"stats"});
  EXPECT_EQ(stats["totals"]["ready"].u64(), 1u);
  EXPECT_EQ(stats["totals"]["delayed"].u64(), 1u);
  EXPECT_EQ(QueueEntry(stats, "b")["delayed"].u64(), 1u);
}

TEST_F(SluicectlTest, BadUsageExitsTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},                                                  // no command
      {"frobnicate"},                                      // unknown command
      {"queues", "--no-such-flag"},                        // unknown flag
      {"enqueue", "--queue", "q"},                         // no payload
      {"enqueue", "--queue", "q", "--payload", "a", "--payload-file", "/dev/null"},
      {"enqueue", "--payload", "a"},                       // no queue
      {"ack", "not-a-token"},                              // malformed token
      {"nack", "1.2"},                                     // malformed token
      {"lease", "--queue", "q", "--count", "many"},        // not a number
      {"lease", "--queue", "q", "--lease", "5"},           // below the broker's 10 ms
      {"dlq", "redrive"},                                  // no selection
      {"dlq", "list", "--reason", "because"},              // unknown reason
      {"task", "show"},                                    // no id
  };
  for (const auto& args : cases) {
    const CtlJsonResult r = Run(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << Describe(r);
    EXPECT_FALSE(r.err.empty()) << joined;
  }
  const CtlJsonResult bad_broker = RunCtlJson({"--broker", "no-port-here", "queues"});
  EXPECT_EQ(bad_broker.exit_code, 2) << Describe(bad_broker);
}

TEST(SluicectlNoBrokerTest, UnreachableBrokerExitsOneWithHint) {
  // A port nobody listens on: bind one, read it, close it.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string broker = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  close(fd);

  const CtlJsonResult r = RunCtlJson({"--broker", broker, "--json", "queues"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(r.out.empty()) << Describe(r);
  EXPECT_NE(r.err.find("cannot connect to " + broker), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("--broker HOST:PORT"), std::string::npos) << Describe(r);
}

TEST_F(SluicectlTest, OfflineDataDirNotesALiveBrokerAndRefusesANewerFormat) {
  Enqueue("jobs", "x");
  const std::string dir = broker_.data_dir();
  // While the broker runs: the view works, with a note that it may be behind.
  const CtlJsonResult live = RunCtlJson({"--data-dir", dir, "--json", "queues"});
  EXPECT_EQ(live.exit_code, 0) << Describe(live);
  EXPECT_NE(live.err.find("is running on"), std::string::npos) << Describe(live);
  ASSERT_EQ(broker_.Stop(), 0);
  const CtlJsonResult stopped = RunCtlJson({"--data-dir", dir, "--json", "queues"});
  EXPECT_EQ(stopped.exit_code, 0) << Describe(stopped);
  EXPECT_EQ(stopped.err.find("is running on"), std::string::npos) << Describe(stopped);
  // A store a newer sluiced wrote: refused, saying so, not misread.
  {
    store::StoreOptions o;
    o.dir = dir;
    o.post = [](std::function<void()> fn) { fn(); };
    auto s = store::RocksStore::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    core::WriteSet set;
    set.push_back(core::Mutation::KeyValue(core::Mutation::Op::kPutMeta, "format", "99"));
    ASSERT_TRUE((*s)->WriteNow(std::move(set)).ok());
  }
  const CtlJsonResult newer = RunCtlJson({"--data-dir", dir, "--json", "queues"});
  EXPECT_EQ(newer.exit_code, 1) << Describe(newer);
  EXPECT_NE(newer.err.find("newer sluice"), std::string::npos) << Describe(newer);
}

TEST_F(SluicectlTest, OfflineDataDirAfterStop) {
  const uint64_t live = Enqueue("jobs", "still here");
  Enqueue("jobs", "later", {"--delay", "3600000"});
  const uint64_t dead = Enqueue("other", "doomed");
  const Json t = LeaseOne("other");
  ASSERT_EQ(t["id"].u64(), dead);
  Ok({"nack", t["token"].text, "--error", "tokenizer crashed", "--fatal"});
  Ok({"queue", "pause", "jobs"});
  ASSERT_EQ(broker_.Stop(), 0);

  const std::string dir = broker_.data_dir();
  const CtlJsonResult queues = RunCtlJson({"--data-dir", dir, "--json", "queues"});
  ASSERT_EQ(queues.exit_code, 0) << Describe(queues);
  ASSERT_TRUE(queues.json_ok) << Describe(queues);
  const Json jobs = QueueEntry(queues.json, "jobs");
  EXPECT_EQ(jobs["ready"].u64(), 1u);
  EXPECT_EQ(jobs["delayed"].u64(), 1u);
  EXPECT_EQ(jobs["dead"].u64(), 0u);
  EXPECT_TRUE(jobs["paused"].boolean);
  EXPECT_EQ(QueueEntry(queues.json, "other")["dead"].u64(), 1u);

  const CtlJsonResult list = RunCtlJson({"--data-dir", dir, "--json", "dlq", "list"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  ASSERT_EQ(list.json["entries"].array.size(), 1u) << Describe(list);
  EXPECT_EQ(list.json["entries"][0]["id"].u64(), dead);
  EXPECT_EQ(list.json["entries"][0]["last_error"].text, "tokenizer crashed");
  EXPECT_EQ(list.json["entries"][0]["reason"].text, "fatal_error");

  const CtlJsonResult show = RunCtlJson({"--data-dir", dir, "--json", "dlq", "show",
                                 std::to_string(dead)});
  ASSERT_EQ(show.exit_code, 0) << Describe(show);
  EXPECT_EQ(show.json["state"].text, "dead");
  ASSERT_EQ(show.json["attempts"].array.size(), 1u) << Describe(show);
  EXPECT_EQ(show.json["attempts"][0]["error"].text, "tokenizer crashed");

  const CtlJsonResult task = RunCtlJson({"--data-dir", dir, "--json", "task", "show",
                                 std::to_string(live)});
  ASSERT_EQ(task.exit_code, 0) << Describe(task);
  EXPECT_EQ(task.json["state"].text, "ready");
  EXPECT_EQ(task.json["payload"].text, "still here");

  const CtlJsonResult missing = RunCtlJson({"--data-dir", dir, "task", "show", "999999"});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);

  const CtlJsonResult table = RunCtlJson({"--data-dir", dir, "queues"});
  EXPECT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_NE(table.out.find("QUEUE"), std::string::npos) << Describe(table);

  const CtlJsonResult refused = RunCtlJson({"--data-dir", dir, "enqueue", "--queue", "q", "--payload",
                                    "x"});
  EXPECT_EQ(refused.exit_code, 2) << Describe(refused);
  EXPECT_NE(refused.err.find("needs a running broker"), std::string::npos) << Describe(refused);
}

}  // namespace
}  // namespace sluice::testing
