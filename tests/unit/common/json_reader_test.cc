// The strict JSON reader (common/json_reader.h).
#include "common/json_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {
namespace {

JsonValue Parsed(const std::string& text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().ToString();
  return v.ok() ? *v : JsonValue{};
}

// The error ParseJson gives for `text` ("" if it parsed).
std::string ErrorOf(const std::string& text) {
  auto v = ParseJson(text);
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), Code::kInvalidArgument);
  return v.status().message();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(JsonReaderTest, ReadsEveryTypeAndKeepsMemberOrder) {
  const JsonValue v = Parsed(
      R"( {"s": "text", "i": -42, "f": 1.5e-3, "t": true, "n": null, "a": [1, "x", [], {}],)"
      R"( "o": {"k": "v", "e": false}} )");
  ASSERT_EQ(v.type(), JsonValue::Type::kObject);
  ASSERT_EQ(v.members().size(), 7u);
  EXPECT_EQ(v.members()[0].key, "s");
  EXPECT_EQ(v.members()[6].key, "o");
  EXPECT_EQ(v.Find("s")->text(), "text");
  EXPECT_EQ(v.Find("i")->AsInt64(), -42);
  EXPECT_EQ(v.Find("f")->type(), JsonValue::Type::kNumber);
  EXPECT_EQ(v.Find("f")->text(), "1.5e-3");
  EXPECT_FALSE(v.Find("f")->AsInt64());
  EXPECT_TRUE(v.Find("t")->boolean());
  EXPECT_TRUE(v.Find("n")->is_null());
  ASSERT_EQ(v.Find("a")->items().size(), 4u);
  EXPECT_EQ(v.Find("a")->items()[1].text(), "x");
  EXPECT_EQ(v.Find("a")->items()[2].type(), JsonValue::Type::kArray);
  EXPECT_EQ(v.Find("a")->items()[3].type(), JsonValue::Type::kObject);
  EXPECT_EQ(v.Find("o")->Find("k")->text(), "v");
  EXPECT_FALSE(v.Find("o")->Find("e")->boolean());
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_EQ(Parsed("0").AsInt64(), 0);
  EXPECT_EQ(Parsed("-0").AsInt64(), 0);
  EXPECT_EQ(Parsed("\"s\"").text(), "s");
  EXPECT_EQ(Parsed("[]").items().size(), 0u);
}

TEST(JsonReaderTest, IntegersOutsideInt64AreNotIntegers) {
  EXPECT_EQ(Parsed("9223372036854775807").AsInt64(), INT64_MAX);
  EXPECT_EQ(Parsed("-9223372036854775808").AsInt64(), INT64_MIN);
  const JsonValue big = Parsed("9223372036854775808");
  EXPECT_FALSE(big.AsInt64());
  EXPECT_EQ(big.text(), "9223372036854775808");
  EXPECT_FALSE(Parsed("1.0").AsInt64());
  EXPECT_FALSE(Parsed("1e3").AsInt64());
  EXPECT_FALSE(Parsed("\"1\"").AsInt64());
  EXPECT_EQ(DescribeJsonType(Parsed("7")), "an integer");
  EXPECT_EQ(DescribeJsonType(Parsed("7.5")), "a number");
  EXPECT_EQ(DescribeJsonType(Parsed("\"7\"")), "a string");
}

TEST(JsonReaderTest, DecodesEveryEscape) {
  EXPECT_EQ(Parsed(R"("a\"b\\c\/d\be\ff\ng\rh\ti")").text(), "a\"b\\c/d\be\ff\ng\rh\ti");
  EXPECT_EQ(Parsed(R"("\u0041\u00e9\u20AC")").text(), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(Parsed(R"("\u0000")").text(), std::string(1, '\0'));
  // A surrogate pair is one code point: U+1F600 (4 bytes of UTF-8).
  EXPECT_EQ(Parsed(R"("\uD83D\uDE00")").text(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(Parsed(R"("\udbff\udfff")").text(), "\xF4\x8F\xBF\xBF");
  // UTF-8 in the text is kept as it is.
  EXPECT_EQ(Parsed("\"gr\xC3\xBC\xC3\x9F \xF0\x9F\x98\x80\"").text(),
            "gr\xC3\xBC\xC3\x9F \xF0\x9F\x98\x80");
  EXPECT_EQ(Parsed(R"({"k\n": 1})").members()[0].key, "k\n");
}

TEST(JsonReaderTest, RefusesBadStrings) {
  EXPECT_TRUE(Contains(ErrorOf(R"("\uD83D")"), "high surrogate")) << ErrorOf(R"("\uD83D")");
  EXPECT_TRUE(Contains(ErrorOf(R"("\uD83Dx")"), "high surrogate"));
  EXPECT_TRUE(Contains(ErrorOf(R"("\uD83D\u0041")"), "high surrogate"));
  EXPECT_TRUE(Contains(ErrorOf(R"("\uDE00")"), "low surrogate"));
  EXPECT_TRUE(Contains(ErrorOf(R"("\u12G4")"), "four hex digits"));
  EXPECT_TRUE(Contains(ErrorOf(R"("\u12")"), "four hex digits"));
  EXPECT_TRUE(Contains(ErrorOf(R"("\x41")"), "unknown escape"));
  EXPECT_TRUE(Contains(ErrorOf(R"("\)"), "escape"));
  EXPECT_TRUE(Contains(ErrorOf("\"a\tb\""), "control character 0x09"));
  EXPECT_TRUE(Contains(ErrorOf("\"a\nb\""), "control character 0x0A"));
  EXPECT_TRUE(Contains(ErrorOf(R"("open)"), "not closed"));
  EXPECT_TRUE(Contains(ErrorOf("'single'"), "expected a JSON value"));
  // Bytes that are not UTF-8: stray, overlong, a surrogate, cut short, too big.
  for (const std::string bad : {"\"\xFF\"", "\"\xC0\x80\"", "\"\xE0\x80\x80\"", "\"\xED\xA0\x80\"",
                                "\"\xE2\x82\"", "\"\xF4\x90\x80\x80\"", "\"\x80\""}) {
    EXPECT_TRUE(Contains(ErrorOf(bad), "UTF-8")) << ErrorOf(bad);
  }
}

TEST(JsonReaderTest, RefusesBadNumbersAndLiterals) {
  for (const std::string bad :
       {"01", "-", "-x", "1.", ".5", "1e", "1e+", "+1", "NaN", "Infinity", "-Infinity", "0x10",
        "tru", "nul", "True", "1..2"}) {
    EXPECT_FALSE(ErrorOf(bad).empty()) << bad << " parsed";
  }
  EXPECT_TRUE(Contains(ErrorOf("07"), "may not start with 0"));
  EXPECT_TRUE(Parsed("-0.0e+10").text() == "-0.0e+10");
}

TEST(JsonReaderTest, RefusesTrailingGarbage) {
  for (const std::string bad : {"{} x", "{}{}", "truex", "1 2", "\"a\"\"b\"", "[1]]", "null,"}) {
    EXPECT_TRUE(Contains(ErrorOf(bad), "after the JSON value")) << bad << ": " << ErrorOf(bad);
  }
  EXPECT_EQ(ErrorOf(" \t{}\r\n "), "");
}

TEST(JsonReaderTest, RefusesBadStructure) {
  EXPECT_TRUE(Contains(ErrorOf(""), "expected a JSON value"));
  EXPECT_TRUE(Contains(ErrorOf("   "), "expected a JSON value"));
  EXPECT_TRUE(Contains(ErrorOf(R"({"a": 1,})"), "trailing ','"));
  EXPECT_TRUE(Contains(ErrorOf("[1,]"), "trailing ','"));
  EXPECT_TRUE(Contains(ErrorOf(R"({"a" 1})"), "expected ':'"));
  EXPECT_TRUE(Contains(ErrorOf("{a: 1}"), "key in double quotes"));
  EXPECT_TRUE(Contains(ErrorOf(R"({"a": 1 "b": 2})"), "expected ',' or '}'"));
  EXPECT_TRUE(Contains(ErrorOf("[1 2]"), "expected ',' or ']'"));
  EXPECT_TRUE(Contains(ErrorOf(R"({"a": 1)"), "end of the input"));
  EXPECT_TRUE(Contains(ErrorOf("[1"), "end of the input"));
  EXPECT_TRUE(Contains(ErrorOf(R"({"a": })"), "expected a JSON value"));
  EXPECT_TRUE(Contains(ErrorOf("// comment\n{}"), "expected a JSON value"));
  EXPECT_TRUE(Contains(ErrorOf(R"({"a": 1, "a": 2})"), "duplicate key \"a\""));
  EXPECT_EQ(ErrorOf(R"({"a": {"a": 1}})"), "") << "the same key in another object is fine";
}

TEST(JsonReaderTest, ErrorsNameTheColumn) {
  EXPECT_EQ(ErrorOf(R"({"a" 1})"), "column 6: expected ':' after a key, found '1'");
  EXPECT_EQ(ErrorOf("[1, 2] x"), "column 8: unexpected text after the JSON value");
  EXPECT_TRUE(Contains(ErrorOf(R"({"a": 1, "a": 2})"), "column 10:"));
}

TEST(JsonReaderTest, NestingIsBounded) {
  const auto nested = [](size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_EQ(ErrorOf(nested(kMaxJsonDepth)), "");
  EXPECT_TRUE(Contains(ErrorOf(nested(kMaxJsonDepth + 1)), "nested deeper than 64"));
  // Far deeper than the stack would allow: refused, not a crash.
  EXPECT_FALSE(ErrorOf(std::string(1'000'000, '[')).empty());
  EXPECT_FALSE(ErrorOf(std::string(1'000'000, '{')).empty());
}

}  // namespace
}  // namespace sluice
