#include "common/json_reader.h"

#include <charconv>
#include <unordered_set>
#include <utility>

#include "common/text.h"

namespace sluice {

std::optional<int64_t> JsonValue::AsInt64() const {
  if (type_ != Type::kNumber) return std::nullopt;
  if (text_.find_first_of(".eE") != std::string::npos) return std::nullopt;
  int64_t value = 0;
  const char* end = text_.data() + text_.size();
  const auto [ptr, ec] = std::from_chars(text_.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const JsonMember& m : members_) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

std::string_view DescribeJsonType(const JsonValue& value) {
  switch (value.type()) {
    case JsonValue::Type::kNull:
      return "null";
    case JsonValue::Type::kBool:
      return "true or false";
    case JsonValue::Type::kNumber:
      return value.AsInt64() ? "an integer" : "a number";
    case JsonValue::Type::kString:
      return "a string";
    case JsonValue::Type::kArray:
      return "an array";
    case JsonValue::Type::kObject:
      return "an object";
  }
  return "a value";
}

// Recursive descent over `text`; each Parse* starts at pos_ and leaves pos_
// after what it read. The first error stops the parse (error_ holds it).
class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  Result<JsonValue> ParseDocument() {
    JsonValue value;
    SkipSpace();
    if (!ParseValue(&value, 0)) return Error();
    SkipSpace();
    if (pos_ != text_.size()) {
      Fail(pos_, "unexpected text after the JSON value");
      return Error();
    }
    return value;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }

  bool Fail(size_t at, std::string what) {
    error_at_ = at;
    error_ = std::move(what);
    return false;
  }
  Status Error() const {
    return Status::InvalidArgument("column " + std::to_string(error_at_ + 1) + ": " + error_);
  }

  // What stands at pos_, for "expected X, found Y".
  std::string Found() const {
    if (AtEnd()) return "the end of the input";
    const auto c = static_cast<unsigned char>(Peek());
    if (c < 0x20 || c >= 0x7f) return "byte 0x" + Hex(c, 2);
    return std::string("'") + Peek() + "'";
  }
  static std::string Hex(unsigned value, int digits) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out(static_cast<size_t>(digits), '0');
    for (int i = digits - 1; i >= 0; --i, value >>= 4)
      out[static_cast<size_t>(i)] = kDigits[value & 15];
    return out;
  }

  bool ParseValue(JsonValue* out, size_t depth) {
    if (AtEnd()) return Fail(pos_, "expected a JSON value, found the end of the input");
    switch (Peek()) {
      case '{':
        return ParseObject(out, depth + 1);
      case '[':
        return ParseArray(out, depth + 1);
      case '"':
        out->type_ = JsonValue::Type::kString;
        return ParseString(&out->text_);
      case 't':
        return ParseLiteral("true", out, JsonValue::Type::kBool, true);
      case 'f':
        return ParseLiteral("false", out, JsonValue::Type::kBool, false);
      case 'n':
        return ParseLiteral("null", out, JsonValue::Type::kNull, false);
      default:
        if (Peek() == '-' || (Peek() >= '0' && Peek() <= '9')) return ParseNumber(out);
        return Fail(pos_, "expected a JSON value, found " + Found());
    }
  }

  bool ParseLiteral(std::string_view word, JsonValue* out, JsonValue::Type type, bool value) {
    if (text_.substr(pos_, word.size()) != word) {
      return Fail(pos_,
                  "expected a JSON value, found " + Found() + " (strings need double quotes)");
    }
    pos_ += word.size();
    out->type_ = type;
    out->boolean_ = value;
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    const auto digits = [this] {
      const size_t from = pos_;
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
      return pos_ - from;
    };
    if (Peek() == '-') ++pos_;
    if (!AtEnd() && Peek() == '0') {
      ++pos_;
      if (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
        return Fail(start, "a number may not start with 0 (write 7, not 07)");
      }
    } else if (digits() == 0) {
      return Fail(pos_, "expected a digit, found " + Found());
    }
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      if (digits() == 0) return Fail(pos_, "expected a digit after '.', found " + Found());
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (digits() == 0) return Fail(pos_, "expected a digit in the exponent, found " + Found());
    }
    out->type_ = JsonValue::Type::kNumber;
    out->text_ = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  // Four hex digits at pos_ (after "\u").
  bool ParseHex4(unsigned* out) {
    *out = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      if (AtEnd()) return Fail(pos_, "\\u needs four hex digits, found the end of the input");
      const char c = Peek();
      unsigned digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return Fail(pos_, "\\u needs four hex digits, found " + Found());
      }
      *out = (*out << 4) | digit;
    }
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // The escape after a backslash (pos_ at the character after it).
  bool ParseEscape(std::string* out) {
    const size_t backslash = pos_ - 1;
    if (AtEnd()) return Fail(backslash, "a string ends inside an escape");
    const char c = Peek();
    ++pos_;
    switch (c) {
      case '"':
        out->push_back('"');
        return true;
      case '\\':
        out->push_back('\\');
        return true;
      case '/':
        out->push_back('/');
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        break;
      default:
        --pos_;
        return Fail(backslash, "unknown escape \\" + Found() +
                                   " (use \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)");
    }
    unsigned unit = 0;
    if (!ParseHex4(&unit)) return false;
    if (unit >= 0xDC00 && unit <= 0xDFFF) {
      return Fail(backslash, "\\u" + Hex(unit, 4) + " is a low surrogate without a high one");
    }
    if (unit < 0xD800 || unit > 0xDBFF) {
      AppendUtf8(unit, out);
      return true;
    }
    // A high surrogate: a low one must follow, as its own \u escape.
    if (text_.substr(pos_, 2) != "\\u") {
      return Fail(backslash, "\\u" + Hex(unit, 4) +
                                 " is a high surrogate not followed by a low"
                                 " one (\\uDC00 to \\uDFFF)");
    }
    pos_ += 2;
    unsigned low = 0;
    if (!ParseHex4(&low)) return false;
    if (low < 0xDC00 || low > 0xDFFF) {
      return Fail(backslash, "\\u" + Hex(unit, 4) +
                                 " is a high surrogate not followed by a low"
                                 " one (\\uDC00 to \\uDFFF)");
    }
    AppendUtf8(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), out);
    return true;
  }

  // One UTF-8 sequence at pos_ whose first byte is >= 0x80: copied to `out`.
  // Refuses overlongs, surrogates and code points above U+10FFFF.
  bool CopyUtf8(std::string* out) {
    const size_t start = pos_;
    const auto b0 = static_cast<unsigned char>(Peek());
    size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;  // overlong
      if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;  // overlong
      if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return Fail(start, "byte 0x" + Hex(b0, 2) + " is not UTF-8");
    }
    for (size_t i = 1; i < len; ++i) {
      const size_t at = start + i;
      const auto b = at < text_.size() ? static_cast<unsigned char>(text_[at]) : 0;
      const unsigned char min = i == 1 ? lo : 0x80;
      const unsigned char max = i == 1 ? hi : 0xBF;
      if (at >= text_.size() || b < min || b > max) {
        return Fail(start, "byte 0x" + Hex(b0, 2) + " starts a sequence that is not UTF-8");
      }
    }
    out->append(text_.substr(start, len));
    pos_ += len;
    return true;
  }

  bool ParseString(std::string* out) {
    const size_t open = pos_;
    ++pos_;  // the opening quote
    while (true) {
      if (AtEnd()) return Fail(open, "a string is not closed (no ending '\"')");
      const auto c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        ++pos_;
        if (!ParseEscape(out)) return false;
      } else if (c < 0x20) {
        return Fail(pos_, "control character 0x" + Hex(c, 2) +
                              " in a string: write it as an escape (\\n, \\t, \\u00" + Hex(c, 2) +
                              ")");
      } else if (c >= 0x80) {
        if (!CopyUtf8(out)) return false;
      } else {
        out->push_back(static_cast<char>(c));
        ++pos_;
      }
    }
  }

  bool ParseArray(JsonValue* out, size_t depth) {
    if (depth > kMaxJsonDepth) {
      return Fail(pos_, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    out->type_ = JsonValue::Type::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      out->items_.emplace_back();
      if (!ParseValue(&out->items_.back(), depth)) return false;
      SkipSpace();
      if (AtEnd()) return Fail(pos_, "expected ',' or ']', found the end of the input");
      if (Peek() == ']') {
        ++pos_;
        return true;
      }
      if (Peek() != ',') return Fail(pos_, "expected ',' or ']', found " + Found());
      ++pos_;
      SkipSpace();
      if (!AtEnd() && Peek() == ']') return Fail(pos_, "a trailing ',' before ']'");
    }
  }

  bool ParseObject(JsonValue* out, size_t depth) {
    if (depth > kMaxJsonDepth) {
      return Fail(pos_, "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    out->type_ = JsonValue::Type::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      return true;
    }
    std::unordered_set<std::string> keys;
    while (true) {
      SkipSpace();
      if (AtEnd() || Peek() != '"') {
        return Fail(pos_, "expected a key in double quotes, found " + Found());
      }
      const size_t key_at = pos_;
      JsonMember member;
      if (!ParseString(&member.key)) return false;
      if (!keys.insert(member.key).second) {
        return Fail(key_at, "duplicate key " + QuoteBytes(member.key));
      }
      SkipSpace();
      if (AtEnd() || Peek() != ':') {
        return Fail(pos_, "expected ':' after a key, found " + Found());
      }
      ++pos_;
      SkipSpace();
      if (!ParseValue(&member.value, depth)) return false;
      out->members_.push_back(std::move(member));
      SkipSpace();
      if (AtEnd()) return Fail(pos_, "expected ',' or '}', found the end of the input");
      if (Peek() == '}') {
        ++pos_;
        return true;
      }
      if (Peek() != ',') return Fail(pos_, "expected ',' or '}', found " + Found());
      ++pos_;
      SkipSpace();
      if (!AtEnd() && Peek() == '}') return Fail(pos_, "a trailing ',' before '}'");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  size_t error_at_ = 0;
  std::string error_;
};

Result<JsonValue> ParseJson(std::string_view text) { return JsonParser(text).ParseDocument(); }

}  // namespace sluice
