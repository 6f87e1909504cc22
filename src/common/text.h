// Text rules shared by the broker and its clients: which queue and tenant
// names are allowed, and how free text kept in a task's history is bounded.
//
// Names. A queue or tenant name is 1 to kMaxNameBytes bytes, each one of
//   A-Z a-z 0-9 . _ - : / @
// so a name prints the same everywhere (tables, logs, JSON) and two
// different names never look alike. The broker refuses any other name with
// INVALID_ARGUMENT (docs/protocol.md section 8); clients may check first for
// a quicker message, but the broker is the authority.
//
// Free text (a nack's error, a worker's name) is not refused when long: it is
// cut to a limit and marked, see TruncateText.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sluice {

// The longest queue or tenant name, in bytes.
inline constexpr size_t kMaxNameBytes = 200;

// The characters a name may hold, in words, for messages and help texts.
inline constexpr char kNameChars[] = "letters A-Z a-z, digits 0-9 and . _ - : / @";

// OK when `name` follows the rule above and is at most `max_bytes` long.
// Otherwise kInvalidArgument saying which `kind` of name ("queue",
// "tenant"), the name with unprintable bytes escaped as \xNN, and the rule.
Status CheckName(std::string_view kind, std::string_view name, size_t max_bytes = kMaxNameBytes);

// `bytes` in double quotes, safe to print on one line: at most `max_shown`
// of them, each outside printable ASCII as \xNN, the quote and backslash as
// \" and \\, and "..." after the closing quote when some were left out.
std::string QuoteBytes(std::string_view bytes, size_t max_shown = 64);

// `text` when it is at most `max_bytes` long. Otherwise its first bytes (at
// most `max_bytes`, cut back to a UTF-8 character boundary) followed by the
// marker "... [truncated N bytes]", N the bytes dropped; the result is then
// at most max_bytes + 42 bytes long (the marker with a 20-digit N).
std::string TruncateText(std::string_view text, size_t max_bytes);

}  // namespace sluice
