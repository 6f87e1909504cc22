// Query strings and form bodies (application/x-www-form-urlencoded), as the
// dashboard's API reads them: "queue=jobs&after=42&limit=50".
//
// Each '&'-separated part is key=value (a part without '=' is a key with an
// empty value; empty parts are skipped); '+' is a space, %XX a byte. Strict:
// a bad escape or a key given twice is refused, so an ambiguous request never
// means something the sender did not intend.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace sluice::broker {

class QueryParams {
 public:
  // kInvalidArgument naming the part for a bad %-escape or a repeated key.
  static Result<QueryParams> Parse(std::string_view text);

  // The decoded value of `key`; nullptr when absent.
  const std::string* Find(std::string_view key) const;
  // In the order given, decoded.
  const std::vector<std::pair<std::string, std::string>>& pairs() const { return pairs_; }

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

// `text` as a decimal integer in [min, max] (no sign, no spaces).
// kInvalidArgument naming `field` and the bounds otherwise.
Result<uint64_t> ParseBoundedUint(std::string_view field, std::string_view text, uint64_t min,
                                  uint64_t max);

}  // namespace sluice::broker
