// Random seam: jittered backoff and randomized tests take an Rng by reference
// so a test can fix the seed and log it.
#pragma once

#include <cstdint>

namespace sluice {

// xorshift64*: small, fast, good enough for jitter. Not for security.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  uint64_t Next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, bound); bound 0 returns 0.
  uint64_t Uniform(uint64_t bound) { return bound == 0 ? 0 : Next() % bound; }

 private:
  uint64_t s_;
};

}  // namespace sluice
