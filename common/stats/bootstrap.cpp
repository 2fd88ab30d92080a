#include "stats/bootstrap.h"

#include <algorithm>
#include <array>
#include <map>

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
  // Uniform in [0, n) without modulo bias (rejection of the short tail);
  // scripts/pool_protocol.py draws the same stream.
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }
};

// The bootstrap's resampled means of W samples of one length n, drawn with one index
// stream: for each of `resamples` rounds, the mean of n values picked at the same
// random indices in every sample. W is a compile-time constant so that the W running
// sums stay in registers.
template <size_t W>
std::vector<std::vector<double>> resampled_means_of(
    const std::vector<const std::vector<double>*>& samples, int64_t resamples, uint64_t seed) {
  const size_t n = samples[0]->size();
  std::vector<std::array<double, W>> rows(n);  // row i: each sample's i-th value
  for (size_t m = 0; m < W; ++m) {
    for (size_t i = 0; i < n; ++i) rows[i][m] = (*samples[m])[i];
  }
  SplitMix64 rng{seed};
  std::vector<std::vector<double>> means(W, std::vector<double>(static_cast<size_t>(resamples)));
  for (int64_t b = 0; b < resamples; ++b) {
    std::array<double, W> sums{};
    for (size_t i = 0; i < n; ++i) {
      const std::array<double, W>& row = rows[rng.below(n)];
      for (size_t m = 0; m < W; ++m) sums[m] += row[m];
    }
    for (size_t m = 0; m < W; ++m)
      means[m][static_cast<size_t>(b)] = sums[m] / static_cast<double>(n);
  }
  return means;
}

constexpr size_t kMaxLanes = 6;  // samples resampled together at most

std::vector<std::vector<double>> resampled_means(
    const std::vector<const std::vector<double>*>& samples, int64_t resamples, uint64_t seed) {
  switch (samples.size()) {
    case 1:
      return resampled_means_of<1>(samples, resamples, seed);
    case 2:
      return resampled_means_of<2>(samples, resamples, seed);
    case 3:
      return resampled_means_of<3>(samples, resamples, seed);
    case 4:
      return resampled_means_of<4>(samples, resamples, seed);
    case 5:
      return resampled_means_of<5>(samples, resamples, seed);
    default:
      return resampled_means_of<kMaxLanes>(samples, resamples, seed);
  }
}

}  // namespace

std::vector<Interval> bootstrap_mean_cis(const std::vector<std::vector<double>>& samples,
                                         const BootstrapOptions& options) {
  std::vector<Interval> out(samples.size());
  const double alpha = 1.0 - std::clamp(options.confidence, 0.0, 1.0);
  const int64_t resamples = std::max<int64_t>(1, options.resamples);
  // Samples of one length share one index stream: drawing the indices costs more than
  // adding the values, so each draw serves them all.
  std::map<size_t, std::vector<size_t>> by_length;
  for (size_t k = 0; k < samples.size(); ++k) {
    const size_t n = samples[k].size();
    if (n == 0) continue;
    if (n == 1) {
      out[k] = {samples[k][0], samples[k][0]};
      continue;
    }
    by_length[n].push_back(k);
  }
  for (const auto& [length, all_members] : by_length) {
    for (size_t first = 0; first < all_members.size(); first += kMaxLanes) {
      const size_t width = std::min(kMaxLanes, all_members.size() - first);
      std::vector<const std::vector<double>*> group;
      for (size_t m = first; m < first + width; ++m) group.push_back(&samples[all_members[m]]);
      std::vector<std::vector<double>> means = resampled_means(group, resamples, options.seed);
      for (size_t m = 0; m < width; ++m) {
        out[all_members[first + m]] = {quantile(means[m], alpha / 2),
                                       quantile(means[m], 1 - alpha / 2)};
      }
    }
  }
  return out;
}

Interval bootstrap_mean_ci(const std::vector<double>& values, const BootstrapOptions& options) {
  return bootstrap_mean_cis({values}, options)[0];
}

}  // namespace fp::stats
