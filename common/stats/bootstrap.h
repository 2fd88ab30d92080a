// Percentile bootstrap confidence interval of a mean, resampling individuals with
// replacement. Seeded and portable: the same values and seed give the same interval
// on every platform (the resampling indices come from a fixed SplitMix64 stream).
#pragma once

#include <cstdint>
#include <vector>

namespace fp::stats {

struct Interval {
  double low = 0, high = 0;
};

struct BootstrapOptions {
  int64_t resamples = 10000;
  double confidence = 0.95;
  uint64_t seed = 1;
};

// The [alpha/2, 1-alpha/2] quantiles of the resampled means; {v, v} for one value,
// {0, 0} for none.
Interval bootstrap_mean_ci(const std::vector<double>& values, const BootstrapOptions& options = {});

// bootstrap_mean_ci of each sample, the same intervals as one call each, in less time:
// samples of the same length are resampled together (one index stream for all).
std::vector<Interval> bootstrap_mean_cis(const std::vector<std::vector<double>>& samples,
                                         const BootstrapOptions& options = {});

}  // namespace fp::stats
