// JsonValue and ParseJson: a small, strict JSON reader (RFC 8259) for the
// files sluicectl reads (`enqueue --batch-file`: one object per line) and
// the request bodies of the broker's dashboard API.
// json_writer.h is the other direction.
//
//   auto v = ParseJson(R"({"queue": "jobs", "priority": 2, "headers": {"k": "v"}})");
//   if (!v.ok()) ...;                       // "column 12: expected ':' after a key"
//   const JsonValue* p = v->Find("priority");  // p->AsInt64() == 2
//
// Strict: exactly one value, whitespace around it allowed (space, tab, CR,
// LF), nothing after it. No comments, no trailing commas, no single quotes,
// no leading zeros, no NaN; raw control characters in strings are refused,
// as are bytes that are not UTF-8 and \u escapes that are lone surrogates;
// an object may not repeat a key. Strings come out as UTF-8 with every
// escape decoded (\uXXXX, surrogate pairs included). Numbers keep their text;
// AsInt64 reads the integers. Nesting is bounded (kMaxJsonDepth) so a hostile
// file cannot exhaust the stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice {

inline constexpr size_t kMaxJsonDepth = 64;

struct JsonMember;

// One JSON value; owns its data. Read only the accessor of its type().
class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  // kBool.
  bool boolean() const { return boolean_; }
  // kString: the decoded UTF-8 bytes. kNumber: the number as written.
  const std::string& text() const { return text_; }
  // kNumber written without fraction or exponent that fits in int64_t;
  // nullopt otherwise (another type included).
  std::optional<int64_t> AsInt64() const;
  // kArray: the elements, in order.
  const std::vector<JsonValue>& items() const { return items_; }
  // kObject: the members, in document order; their keys are distinct.
  const std::vector<JsonMember>& members() const { return members_; }
  // kObject: the value of `key`, or null when absent (or not an object).
  const JsonValue* Find(std::string_view key) const;

 private:
  friend class JsonParser;

  Type type_ = Type::kNull;
  bool boolean_ = false;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<JsonMember> members_;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

// "a string", "an integer", "a number", "true or false", "null", "an array",
// "an object": what a message says a value is ("must be a string, not an
// array").
std::string_view DescribeJsonType(const JsonValue& value);

// Parses `text` as exactly one JSON value. kInvalidArgument, with the message
// "column N: what is wrong" (N: the 1-based byte offset in `text`), on
// anything that is not strict JSON.
Result<JsonValue> ParseJson(std::string_view text);

}  // namespace sluice
