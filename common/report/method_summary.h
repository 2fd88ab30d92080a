// Each method's mean accuracy over a campaign's individuals with a 95% confidence
// interval: a seeded percentile bootstrap over individuals (common/stats/bootstrap.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/campaign_results.h"

namespace fp::report {

struct BootstrapOptions {
  int resamples = 2000;
  double confidence = 0.95;
  uint64_t seed = 20250218;  // fixed: the same store gives the same interval on every page load
};

// The mean of `values` and its percentile-bootstrap interval; all null when `values` is
// empty, the interval collapses to the mean for one value.
struct MeanInterval {
  int64_t n = 0;
  std::optional<double> mean, ci_low, ci_high;
};

MeanInterval bootstrap_mean_ci(const std::vector<double>& values,
                               const BootstrapOptions& options = {});

struct MethodSummary {
  std::string method;  // "general", a telemetry method, or "gain" (fine_prune - general)
  MeanInterval stats;
};

// Fine-Pruning's gain for one individual: its accuracy minus the general model's on the
// same data, or none when either is missing.
std::optional<double> fine_prune_gain(const IndividualResult& r);

// "general", then result_methods() in order, then "gain"; each over the individuals that
// reported it.
std::vector<MethodSummary> summarize_methods(const CampaignResults& results,
                                             const BootstrapOptions& options = {});

}  // namespace fp::report
