// Descriptive statistics and the paired comparison every results table reports:
// mean, median, a 95% bootstrap confidence interval over individuals, a paired
// Wilcoxon signed-rank test, and counts of individuals improved / worse by more than
// one evaluation sample's worth. Plain C++, no torch: reports and exports link it.
#pragma once

#include <cstdint>
#include <vector>

#include "stats/bootstrap.h"
#include "stats/wilcoxon.h"

namespace fp::stats {

double mean(const std::vector<double>& values);    // 0 when empty
double median(const std::vector<double>& values);  // 0 when empty
// The q-quantile (0..1) by linear interpolation between order statistics; 0 when empty.
double quantile(std::vector<double> values, double q);

struct PairedOptions {
  // A change counts as improved / worse only when |b - a| exceeds this: one evaluation
  // sample's worth of accuracy (1 / eval_samples). 0: any change counts.
  double resolution = 0;
  BootstrapOptions bootstrap;
  WilcoxonOptions wilcoxon;
};

// b compared with a, paired by position (b[i] and a[i] belong to one individual).
struct PairedSummary {
  int64_t n = 0;
  double mean_a = 0, mean_b = 0;
  double mean_diff = 0, median_diff = 0;           // of b - a
  Interval ci;                                     // bootstrap CI of mean(b - a)
  WilcoxonResult wilcoxon;                         // signed-rank test of b - a
  int64_t improved = 0, worse = 0, unchanged = 0;  // by more than `resolution`
};

// Fails (n = 0 and everything zero) when the sizes differ or are empty; check n.
PairedSummary summarize_paired(const std::vector<double>& a, const std::vector<double>& b,
                               const PairedOptions& options = {});

}  // namespace fp::stats
