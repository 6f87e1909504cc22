#include "common/text.h"

#include <cstdio>

namespace sluice {

namespace {

bool NameChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == ':' || c == '/' || c == '@';
}

}  // namespace

std::string QuoteBytes(std::string_view bytes, size_t max_shown) {
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c > 0x7e) {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out += bytes.size() > max_shown ? "\"..." : "\"";
  return out;
}

Status CheckName(std::string_view kind, std::string_view name, size_t max_bytes) {
  std::string problem;
  if (name.empty()) {
    problem = "is empty";
  } else if (name.size() > max_bytes) {
    problem = "is " + std::to_string(name.size()) + " bytes long, over the limit of " +
              std::to_string(max_bytes);
  } else {
    for (const char c : name) {
      if (!NameChar(static_cast<unsigned char>(c))) {
        problem = "has a character that is not allowed";
        break;
      }
    }
  }
  if (problem.empty()) return Status::Ok();
  return Status::InvalidArgument(std::string(kind) + " name " + QuoteBytes(name) + " " + problem +
                                 ": use 1 to " + std::to_string(max_bytes) + " characters from " +
                                 kNameChars);
}

std::string TruncateText(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t keep = max_bytes;
  // Do not split a UTF-8 sequence: back off over continuation bytes.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xc0) == 0x80) --keep;
  std::string out(text.substr(0, keep));
  out += "... [truncated " + std::to_string(text.size() - keep) + " bytes]";
  return out;
}

}  // namespace sluice
