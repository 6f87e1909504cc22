#include "core/settings_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

namespace sluice::core {

namespace {

// The optional v2 suffix (settings_format.h); nothing after p means tasks.
constexpr std::string_view kUnitTasks = " u=tasks";
constexpr std::string_view kUnitCost = " u=cost";

// Reads the v1 fields the way the sscanf format "w=%u r=%lf b=%lf c=%u p=%d"
// did before this decoder replaced it, so that every value earlier releases
// accepted still decodes the same: a space of the format matches any run of
// white space (none included), a number may follow white space and carry a
// sign, and an integer out of its type's range wraps as sscanf's does.
class FieldScanner {
 public:
  explicit FieldScanner(std::string_view text) : text_(text) {}

  std::string_view rest() const { return text_.substr(pos_); }

  void SkipSpaces() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  bool Literal(std::string_view lit) {
    if (rest().substr(0, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }
  // %u: strtoul's value (negated modulo 2^64 after '-', ULONG_MAX past the
  // range) cut to 32 bits.
  bool Unsigned(uint32_t* out) {
    const auto n = Integer();
    if (!n) return false;
    uint64_t v = n->overflow ? std::numeric_limits<uint64_t>::max() : n->magnitude;
    if (n->negative && !n->overflow) v = 0 - v;
    *out = static_cast<uint32_t>(v);
    return true;
  }
  // %d: strtol's value (clamped to int64) cut to 32 bits.
  bool Signed(int* out) {
    const auto n = Integer();
    if (!n) return false;
    constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;  // of INT64_MIN
    int64_t v;
    if (n->overflow || n->magnitude >= kMaxMagnitude) {
      v = n->negative ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
    } else {
      v = n->negative ? -static_cast<int64_t>(n->magnitude) : static_cast<int64_t>(n->magnitude);
    }
    *out = static_cast<int>(v);
    return true;
  }
  // %lf: decimal, hexadecimal ("0x"), inf, infinity or nan, with a sign.
  bool Double(double* out) {
    SkipSpaces();
    const bool negative = Sign();
    const size_t number = pos_;
    std::chars_format format = std::chars_format::general;
    const std::string_view r = rest();
    if (r.size() > 2 && r[0] == '0' && (r[1] == 'x' || r[1] == 'X') && IsHexDigitOrPoint(r[2])) {
      pos_ += 2;
      format = std::chars_format::hex;
    }
    double v = 0;
    const char* begin = text_.data() + pos_;
    auto [ptr, ec] = std::from_chars(begin, text_.data() + text_.size(), v, format);
    if (ec == std::errc::result_out_of_range) {
      // Past double's range: sscanf stored strtod's HUGE_VAL or 0, which
      // from_chars does not give; strtod reads the matched text once more.
      const size_t matched = static_cast<size_t>(ptr - text_.data()) - number;
      v = std::strtod(std::string(text_.substr(number, matched)).c_str(), nullptr);
    } else if (ec != std::errc()) {
      return false;
    }
    pos_ += static_cast<size_t>(ptr - begin);
    // sscanf read "nan" and no "(chars)" after it.
    if (std::isnan(v)) pos_ = number + 3;
    // sscanf also took an exponent marker and sign that no digit followed
    // ("1e", "1e+"), keeping the number before them.
    const char marker = format == std::chars_format::hex ? 'p' : 'e';
    const std::string_view matched(begin, static_cast<size_t>(ptr - begin));
    const bool has_exponent = matched.find_first_of(marker == 'p' ? "pP" : "eE") != matched.npos;
    if (std::isfinite(v) && !has_exponent && pos_ < text_.size() &&
        (text_[pos_] | 0x20) == marker) {
      ++pos_;
      Sign();
    }
    *out = negative ? -v : v;
    return true;
  }

 private:
  static bool IsSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  }
  static bool IsHexDigitOrPoint(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.';
  }
  // Takes an optional '+' or '-'; true after '-'.
  bool Sign() {
    if (pos_ >= text_.size() || (text_[pos_] != '+' && text_[pos_] != '-')) return false;
    return text_[pos_++] == '-';
  }
  struct ScannedInteger {
    bool negative = false;
    uint64_t magnitude = 0;
    bool overflow = false;  // the digits exceed uint64 (magnitude unset)
  };
  // White space, an optional sign, then one or more digits.
  std::optional<ScannedInteger> Integer() {
    ScannedInteger n;
    SkipSpaces();
    n.negative = Sign();
    const char* begin = text_.data() + pos_;
    auto [ptr, ec] = std::from_chars(begin, text_.data() + text_.size(), n.magnitude);
    if (ptr == begin) return std::nullopt;
    n.overflow = ec == std::errc::result_out_of_range;
    pos_ += static_cast<size_t>(ptr - begin);
    return n;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// The v3 field `prefix` (" q=", " s=") at the start of `*rest`: its digits
// into `*out`, consumed. Absent: `*out` = 0. False when the prefix is there
// without one or more digits that fit in 64 bits, or with a digit run that
// does not end the field.
bool OptionalCount(std::string_view* rest, std::string_view prefix, uint64_t* out) {
  *out = 0;
  if (!rest->starts_with(prefix)) return true;
  rest->remove_prefix(prefix.size());
  const char* end = rest->data() + rest->size();
  auto [ptr, ec] = std::from_chars(rest->data(), end, *out);
  if (ec != std::errc() || ptr == rest->data()) return false;
  rest->remove_prefix(static_cast<size_t>(ptr - rest->data()));
  return true;
}

}  // namespace

std::string EncodeSettings(const Limits& l, bool paused) {
  char buf[160];
  // %.17g: doubles round-trip exactly.
  std::snprintf(buf, sizeof(buf), "w=%u r=%.17g b=%.17g c=%u p=%d", l.weight, l.rate_per_s, l.burst,
                l.max_inflight, paused ? 1 : 0);
  std::string out = buf;
  // Tasks is written as v1 (no u field) so that older releases still read it;
  // likewise no quota is written as v2 (no q or s field).
  if (l.rate_unit == RateUnit::kCost) out += kUnitCost;
  if (l.max_queued != 0) out += " q=" + std::to_string(l.max_queued);
  if (l.max_bytes != 0) out += " s=" + std::to_string(l.max_bytes);
  return out;
}

bool DecodeSettings(std::string_view text, StoredSettings* out) {
  FieldScanner scan(text);
  int paused = 0;
  Limits& l = out->limits;
  const bool fields = scan.Literal("w=") && scan.Unsigned(&l.weight) &&
                      (scan.SkipSpaces(), scan.Literal("r=")) && scan.Double(&l.rate_per_s) &&
                      (scan.SkipSpaces(), scan.Literal("b=")) && scan.Double(&l.burst) &&
                      (scan.SkipSpaces(), scan.Literal("c=")) && scan.Unsigned(&l.max_inflight) &&
                      (scan.SkipSpaces(), scan.Literal("p=")) && scan.Signed(&paused);
  if (!fields || (paused != 0 && paused != 1)) return false;
  std::string_view rest = scan.rest();
  l.rate_unit = RateUnit::kTasks;
  if (rest.starts_with(kUnitTasks)) {
    rest.remove_prefix(kUnitTasks.size());
  } else if (rest.starts_with(kUnitCost)) {
    rest.remove_prefix(kUnitCost.size());
    l.rate_unit = RateUnit::kCost;
  }
  if (!OptionalCount(&rest, " q=", &l.max_queued) || !OptionalCount(&rest, " s=", &l.max_bytes) ||
      !rest.empty()) {
    return false;
  }
  out->paused = paused == 1;
  return true;
}

}  // namespace sluice::core
