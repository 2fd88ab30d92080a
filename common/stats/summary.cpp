#include "stats/summary.h"

#include <algorithm>
#include <cmath>

namespace fp::stats {

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double median(const std::vector<double>& v) { return quantile(v, 0.5); }

PairedSummary summarize_paired(const std::vector<double>& a, const std::vector<double>& b,
                               const PairedOptions& options) {
  PairedSummary s;
  if (a.size() != b.size() || a.empty()) return s;
  s.n = static_cast<int64_t>(a.size());
  std::vector<double> diff(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    diff[i] = b[i] - a[i];
    // A tiny epsilon keeps "exactly one sample" (e.g. 1/200 computed two ways) unchanged.
    if (diff[i] > options.resolution + 1e-9)
      ++s.improved;
    else if (diff[i] < -options.resolution - 1e-9)
      ++s.worse;
    else
      ++s.unchanged;
  }
  s.mean_a = mean(a);
  s.mean_b = mean(b);
  s.mean_diff = mean(diff);
  s.median_diff = median(diff);
  s.ci = bootstrap_mean_ci(diff, options.bootstrap);
  s.wilcoxon = wilcoxon_signed_rank(diff, options.wilcoxon);
  return s;
}

}  // namespace fp::stats
