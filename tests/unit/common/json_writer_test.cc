// The JSON writer (common/json_writer.h): string escaping, separators,
// numbers.
#include "common/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <string_view>

namespace sluice {
namespace {

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Json(""), "\"\"");
  EXPECT_EQ(Json("plain q-1"), "\"plain q-1\"");
  EXPECT_EQ(Json("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Json("l1\nl2\r\t\b\f"), "\"l1\\nl2\\r\\t\\b\\f\"");
  EXPECT_EQ(Json(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(Json(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  // "</script>" needs no escape in JSON; it stays as it is.
  EXPECT_EQ(Json("</script>"), "\"</script>\"");
}

TEST(JsonWriterTest, Utf8PassesAndOtherBytesBecomeReplacementCharacters) {
  EXPECT_EQ(Json("caf\xc3\xa9 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
  EXPECT_EQ(Json("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(Json("a\xc3"), "\"a\\ufffd\"");           // cut inside a character
  EXPECT_EQ(Json("\xc0\xaf"), "\"\\ufffd\\ufffd\"");  // overlong
  EXPECT_EQ(Json("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
}

TEST(JsonWriterTest, SeparatorsAndNesting) {
  JsonWriter w;
  w.BeginObject()
      .Key("id").Uint(42)
      .Key("n").Int(-3)
      .Key("ok").Bool(true)
      .Key("none").Null()
      .Key("list").BeginArray().String("a").BeginObject().EndObject().EndArray()
      .EndObject();
  EXPECT_EQ(w.str(), R"({"id": 42, "n": -3, "ok": true, "none": null, "list": ["a", {}]})");
}

TEST(JsonWriterTest, DoublesAreShortAndNonFiniteIsNull) {
  JsonWriter w;
  w.BeginArray().Double(0.25).Double(1.0 / 3).Double(NAN).Double(INFINITY).EndArray();
  EXPECT_EQ(w.str(), "[0.25, 0.3333333333333333, null, null]");
}

TEST(JsonWriterTest, Base64) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64(std::string("\0\xff", 2)), "AP8=");
}

}  // namespace
}  // namespace sluice
