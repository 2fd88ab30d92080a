// Each method's mean accuracy over a campaign's individuals with a 95% confidence
// interval: a seeded percentile bootstrap over individuals (common/stats/bootstrap.h).
#pragma once

#include <cstdint>
#include <future>
#include <map>
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

// The values summarize_methods resamples: "general", then result_methods() in order,
// then "gain"; each over the individuals that reported it.
struct MethodSamples {
  std::vector<std::string> names;
  std::vector<std::vector<double>> samples;  // samples[k]: names[k]'s values
};
MethodSamples method_samples(const CampaignResults& results);

// Each of method_samples' methods with its mean and interval, resampled together.
std::vector<MethodSummary> summarize_methods(const CampaignResults& results,
                                             const BootstrapOptions& options = {});

// summarize_methods that remembers each campaign's last answer and redoes the bootstrap
// only when the values it resamples (or the options) changed: a dashboard polling a
// finished campaign pays for the intervals once. While a campaign runs its values change
// with every result, so it redoes them at most every `refresh_seconds` (or when `now` went
// back: a clock stepped back), on a thread of its own, and answers with the last ones meanwhile
// (marked not current): a request never waits for a running campaign's bootstrap (10,000
// individuals: ~75 ms of CPU, several times that on a machine the campaign keeps busy;
// docs/SIMULATIONS.md). A campaign's first answer, and a finished campaign's final one, are
// computed in the call (which first waits for a refresh still running, and takes its answer if it
// resampled the final values: at most one bootstrap, once per campaign). Keeps at most
// `max_campaigns`. One thread at a time calls it.
class SummaryCache {
 public:
  struct Answer {
    const std::vector<MethodSummary>& methods;  // valid until the next call
    double computed_at;  // the `now` of the call whose values they were made from
    bool current;        // false: the values changed since (a running campaign)
  };

  explicit SummaryCache(double refresh_seconds = 5, size_t max_campaigns = 64)
      : refresh_seconds_(refresh_seconds), max_campaigns_(max_campaigns) {}
  Answer summarize(const CampaignResults& results, double now,
                   const BootstrapOptions& options = {});
  int64_t bootstraps() const { return bootstraps_; }  // how many were started
  // Waits until no refresh runs (tests; a refresh's result is taken by the next call).
  void wait_for_refreshes();

 private:
  struct Summary {
    uint64_t fingerprint = 0;  // of the values and options the summary was made from
    std::vector<MethodSummary> methods;
    double computed_at = 0;
  };
  struct Entry {
    Summary last;
    std::future<Summary> refresh;  // valid while one runs
  };
  double refresh_seconds_;
  size_t max_campaigns_;
  int64_t bootstraps_ = 0;
  std::map<int64_t, Entry> by_campaign_;
};

}  // namespace fp::report
