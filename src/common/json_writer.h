// JsonWriter: builds one JSON text in memory (`sluicectl --json`, the
// broker's dashboard API, the event log's string escaping).
//
//   JsonWriter w;
//   w.BeginObject().Key("id").Uint(42).Key("duplicate").Bool(false).EndObject();
//   w.str()  ->  {"id": 42, "duplicate": false}
//
// Output is one line, with ": " after keys and ", " between members, so that a
// script can read it with any JSON parser and a person can still read it.
//
// Strings: the input is treated as UTF-8. Quotes, backslashes and control
// characters are escaped; valid multi-byte UTF-8 sequences are copied as they
// are; every byte that is not part of a valid sequence becomes U+FFFD, so the
// output is always valid JSON (callers that need the exact bytes of binary
// data also emit a base64 field, see IsValidUtf8 and Base64).
//
// Misuse (a value where a key is required, unbalanced End*) is a programming
// error, checked with assert in debug builds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the next member's name. Must be followed by one value.
  JsonWriter& Key(std::string_view key);

  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  // Non-finite values are written as null (JSON has no NaN or infinity).
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // The text so far; complete once every Begin* has its End*.
  const std::string& str() const { return out_; }

 private:
  struct Level {
    bool is_object = false;
    bool empty = true;
  };
  // Writes the separator a new value (or key) needs at the current position.
  void BeforeValue();

  std::string out_;
  std::vector<Level> stack_;
  bool after_key_ = false;
};

// Appends `value` to `out` as a quoted, escaped JSON string (rules above).
void AppendJsonString(std::string_view value, std::string* out);

// True if `bytes` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(std::string_view bytes);

// Standard base64 (RFC 4648, with padding).
std::string Base64(std::string_view bytes);

}  // namespace sluice
