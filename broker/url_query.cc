#include "broker/url_query.h"

#include <charconv>

#include "common/text.h"

namespace sluice::broker {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> Decode(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (size_t i = 0; i < part.size(); ++i) {
    const char c = part[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      const bool room = i + 2 < part.size();
      const int hi = room ? HexDigit(part[i + 1]) : -1;
      const int lo = room ? HexDigit(part[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Status::InvalidArgument("bad %-escape in " + QuoteBytes(part) +
                                       ": % must be followed by two hex digits");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

}  // namespace

Result<QueryParams> QueryParams::Parse(std::string_view text) {
  QueryParams params;
  while (!text.empty()) {
    const size_t amp = text.find('&');
    const std::string_view part = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    auto key = Decode(part.substr(0, eq));
    if (!key.ok()) return key.status();
    auto value = Decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!value.ok()) return value.status();
    if (params.Find(*key) != nullptr) {
      return Status::InvalidArgument("parameter " + QuoteBytes(*key) +
                                     " is given twice: give it once");
    }
    params.pairs_.emplace_back(std::move(*key), std::move(*value));
  }
  return params;
}

const std::string* QueryParams::Find(std::string_view key) const {
  for (const auto& [k, v] : pairs_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Result<uint64_t> ParseBoundedUint(std::string_view field, std::string_view text, uint64_t min,
                                  uint64_t max) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return Status::InvalidArgument(std::string(field) + " must be an integer from " +
                                   std::to_string(min) + " to " + std::to_string(max) + ", not " +
                                   QuoteBytes(text));
  }
  return value;
}

}  // namespace sluice::broker
