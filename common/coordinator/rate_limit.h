// A token bucket: `rate` messages per second on average, bursts of up to `burst`.
// The coordinator keeps one per connected peer, so a flooding agent loses only its
// own excess messages.
#pragma once

#include <algorithm>
#include <chrono>

namespace fp::coord {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(std::max(1.0, burst)), tokens_(burst_), last_(now) {}

  // Refills for the time since the last call, then takes one token if there is one.
  bool take(Clock::time_point now) {
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }
  // True when no burst is under way: the bucket has refilled completely.
  bool full(Clock::time_point now) {
    refill(now);
    return tokens_ >= burst_;
  }

 private:
  void refill(Clock::time_point now) {
    if (now <= last_) return;
    tokens_ =
        std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

}  // namespace fp::coord
