// TokenBucket: a rate limit (rate, burst) refilled lazily from the caller's
// clock reading.
//
// Contract:
//  - Unlimited when rate_per_s == 0: HasToken() is always true, Take() is a
//    no-op.
//  - Capacity is `burst`, or max(1, rate_per_s) when burst is 0. A new bucket
//    starts full.
//  - Tokens accrue continuously at rate_per_s (fractional tokens count) up to
//    the capacity; a dispatch needs one whole token and takes `n` (1 per
//    task, or the task's cost). Taking more than is held leaves the bucket
//    in debt; refill repays the debt before the next dispatch, so a take
//    larger than the capacity still goes and the long-run rate holds.
//  - Time comes from the caller in ms. If time steps backwards the bucket
//    does not refill until time passes the last reading again (never early).
//  - Not thread-safe (the engine's loop thread owns it).
#pragma once

#include <algorithm>
#include <cmath>

#include "common/clock.h"

namespace sluice::core {

class TokenBucket {
 public:
  // Reconfigures the bucket at `now`. Tokens held are kept (clamped to the
  // new capacity); a bucket that was unlimited starts full.
  void Configure(double rate_per_s, double burst, TimeMs now) {
    const bool was_limited = limited();
    Refill(now);
    rate_per_ms_ = rate_per_s > 0 ? rate_per_s / 1000.0 : 0;
    capacity_ = burst > 0 ? burst : std::max(1.0, rate_per_s);
    last_ = now;
    tokens_ = was_limited ? std::min(tokens_, capacity_) : capacity_;
  }

  bool limited() const { return rate_per_ms_ > 0; }

  // True when one whole token is available at `now` (refills first).
  bool HasToken(TimeMs now) {
    if (!limited()) return true;
    Refill(now);
    return tokens_ >= 1.0 - kEpsilon;
  }

  // Takes `n` tokens (n >= 1). Call after HasToken(now) returned true.
  void Take(double n = 1.0) {
    if (limited()) tokens_ -= n;
  }

  // The earliest ms, not before `now`, at which one whole token is available
  // if nobody takes one meanwhile.
  TimeMs NextTokenAt(TimeMs now) const {
    if (!limited()) return now;
    double tokens = tokens_;
    if (now > last_)
      tokens = std::min(capacity_, tokens + static_cast<double>(now - last_) * rate_per_ms_);
    if (tokens >= 1.0 - kEpsilon) return now;
    const TimeMs base = std::max(now, last_);
    const double missing = 1.0 - tokens;
    // Tokens at `base` are `tokens` (virtually refilled above).
    return base + static_cast<TimeMs>(std::ceil(missing / rate_per_ms_ - kEpsilon));
  }

  double tokens() const { return tokens_; }

 private:
  // Absorbs floating-point rounding so a token due at ms T is seen at T.
  static constexpr double kEpsilon = 1e-9;

  void Refill(TimeMs now) {
    if (now <= last_) return;
    tokens_ = std::min(capacity_, tokens_ + static_cast<double>(now - last_) * rate_per_ms_);
    last_ = now;
  }

  double rate_per_ms_ = 0;
  double capacity_ = 0;
  double tokens_ = 0;
  TimeMs last_ = 0;
};

}  // namespace sluice::core
