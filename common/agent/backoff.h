// Exponential reconnect backoff with jitter: min, 2*min, 4*min ... capped at max.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

#include "util/random.h"

namespace fp::agent {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(min),
        max_(std::max(min, max)),
        next_(min),
        rng_(static_cast<std::mt19937::result_type>(random_u64())) {}

  // The delay before the next attempt, between half and all of the current step,
  // so agents that lost the coordinator together do not return together.
  std::chrono::milliseconds next() {
    auto step = next_;
    next_ = std::min(max_, next_ * 2);
    std::uniform_int_distribution<int64_t> jitter(step.count() / 2, step.count());
    return std::chrono::milliseconds(jitter(rng_));
  }
  void reset() { next_ = min_; }

 private:
  std::chrono::milliseconds min_, max_, next_;
  std::mt19937 rng_;
};

}  // namespace fp::agent
