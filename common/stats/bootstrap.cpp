#include "stats/bootstrap.h"

#include <algorithm>

#include "stats/summary.h"

namespace fp::stats {
namespace {

// SplitMix64: a tiny generator whose output is the same on every platform (unlike the
// standard library's distributions).
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) without modulo bias (rejection of the short tail).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }
};

}  // namespace

Interval bootstrap_mean_ci(const std::vector<double>& values, const BootstrapOptions& options) {
  if (values.empty()) return {};
  if (values.size() == 1) return {values[0], values[0]};
  SplitMix64 rng{options.seed};
  const uint64_t n = values.size();
  const int64_t resamples = std::max<int64_t>(1, options.resamples);
  std::vector<double> means(static_cast<size_t>(resamples));
  for (auto& m : means) {
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) sum += values[rng.below(n)];
    m = sum / static_cast<double>(n);
  }
  const double alpha = 1.0 - std::clamp(options.confidence, 0.0, 1.0);
  return {quantile(means, alpha / 2), quantile(means, 1 - alpha / 2)};
}

}  // namespace fp::stats
