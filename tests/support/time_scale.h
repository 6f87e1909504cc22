// TimeScaled: a test's wall-clock bound, stretched on a slower build.
//
// SLUICE_TEST_TIME_SCALE (a whole number >= 1, default 1) multiplies the
// bound. ctest sets it for every GoogleTest test from the same scale as the
// test TIMEOUTs (cmake/TestTimeouts.cmake): 4 under ThreadSanitizer, where
// all code runs several times slower, else 1. What a test asserts stays the
// same; only how long "soon" may take grows. For bounds that measure the
// machine (a round trip on a busy broker), and for a broker time limit
// (idle_timeout_ms) that a test's own slow steps must fit inside.
#pragma once

#include <cstdlib>

namespace sluice::testing {

inline int TimeScale() {
  static const int scale = [] {
    const char* env = std::getenv("SLUICE_TEST_TIME_SCALE");
    const int v = env ? std::atoi(env) : 1;
    return v >= 1 ? v : 1;
  }();
  return scale;
}

inline int TimeScaled(int ms) { return ms * TimeScale(); }

}  // namespace sluice::testing
