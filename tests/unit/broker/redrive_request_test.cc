// The body of POST /api/redrive: JSON and form bodies, what they select and
// what they refuse.
#include "broker/redrive_request.h"

#include <gtest/gtest.h>

#include "core/engine.h"

namespace sluice::broker {
namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kForm = "application/x-www-form-urlencoded; charset=utf-8";

std::string ErrorOf(std::string_view type, std::string_view body) {
  auto r = ParseRedriveRequest(type, body);
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

TEST(RedriveRequestTest, JsonSelections) {
  auto one = ParseRedriveRequest(kJson, R"({"id": 42})");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->filter.ids, std::vector<core::TaskId>{42});
  EXPECT_EQ(one->limit, core::Engine::kMaxDeadPage);

  auto many = ParseRedriveRequest("", R"({"ids": [1, 2], "queue": "q", "limit": 5})");
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  EXPECT_EQ(many->filter.ids, (std::vector<core::TaskId>{1, 2}));
  EXPECT_EQ(many->filter.queue, "q");
  EXPECT_EQ(many->limit, 5u);

  auto all = ParseRedriveRequest(kJson, R"({"all": true})");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->filter.ids.empty());
  EXPECT_TRUE(all->filter.queue.empty());

  auto tenant = ParseRedriveRequest(kJson, R"({"tenant": "acme"})");
  ASSERT_TRUE(tenant.ok());
  EXPECT_EQ(tenant->filter.tenant, "acme");
}

TEST(RedriveRequestTest, FormSelections) {
  auto r = ParseRedriveRequest(kForm, "ids=3,4&queue=jobs%2F1&limit=2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->filter.ids, (std::vector<core::TaskId>{3, 4}));
  EXPECT_EQ(r->filter.queue, "jobs/1");
  EXPECT_EQ(r->limit, 2u);
  EXPECT_TRUE(ParseRedriveRequest(kForm, "all=true").ok());
  EXPECT_TRUE(ParseRedriveRequest(kForm, "id=7").ok());
}

TEST(RedriveRequestTest, RefusesWhatSelectsNothingOrIsMalformed) {
  EXPECT_NE(ErrorOf(kJson, "{}").find("select dead letters"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"all": false})").find("select dead letters"), std::string::npos);
  EXPECT_NE(ErrorOf(kForm, "").find("select dead letters"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, "{\"id\": 1").find("not JSON"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, "[1]").find("must be a JSON object"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"id": "1"})").find("id must be an integer"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"id": 0})").find("id must be an integer from 1"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"id": -1})").find("id must be an integer"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"ids": 1})").find("ids must be an array"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"queue": 1})").find("queue must be a string"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"all": "yes"})").find("all must be true or false"),
            std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"id": 1, "limit": 0})").find("limit must be"), std::string::npos);
  EXPECT_NE(ErrorOf(kJson, R"({"id": 1, "qeueu": "x"})").find("unknown field \"qeueu\""),
            std::string::npos);
  EXPECT_NE(ErrorOf(kForm, "id=1,x").find("id must be an integer"), std::string::npos);
  EXPECT_NE(ErrorOf(kForm, "all=1").find("all must be true or false"), std::string::npos);
  EXPECT_NE(ErrorOf(kForm, "nope=1").find("unknown field"), std::string::npos);
  EXPECT_NE(ErrorOf(kForm, R"({"id": 1})").find("Content-Type: application/json"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::broker
