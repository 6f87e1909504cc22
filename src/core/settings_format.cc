#include "core/settings_format.h"

#include <cstdio>

namespace sluice::core {

std::string EncodeSettings(const Limits& l, bool paused) {
  char buf[160];
  // %.17g: doubles round-trip exactly.
  std::snprintf(buf, sizeof(buf), "w=%u r=%.17g b=%.17g c=%u p=%d", l.weight, l.rate_per_s,
                l.burst, l.max_inflight, paused ? 1 : 0);
  return buf;
}

bool DecodeSettings(std::string_view text, StoredSettings* out) {
  const std::string s(text);  // sscanf needs a terminated string
  int paused = 0;
  int end = 0;
  if (std::sscanf(s.c_str(), "w=%u r=%lf b=%lf c=%u p=%d%n", &out->limits.weight,
                  &out->limits.rate_per_s, &out->limits.burst, &out->limits.max_inflight, &paused,
                  &end) != 5 ||
      static_cast<size_t>(end) != s.size() || (paused != 0 && paused != 1)) {
    return false;
  }
  out->paused = paused == 1;
  return true;
}

}  // namespace sluice::core
