#include "report/method_summary.h"

#include <algorithm>
#include <cmath>

namespace fp::report {
namespace {

// SplitMix64: a tiny generator whose sequence is the same on every platform, unlike the
// standard library's distributions.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// The q-quantile of sorted `v` with linear interpolation between neighbours.
double quantile(const std::vector<double>& v, double q) {
  double pos = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

MeanInterval bootstrap_mean_ci(const std::vector<double>& values, const BootstrapOptions& options) {
  MeanInterval out;
  out.n = static_cast<int64_t>(values.size());
  if (values.empty()) return out;
  double sum = 0;
  for (double v : values) sum += v;
  out.mean = sum / static_cast<double>(values.size());
  if (values.size() == 1 || options.resamples < 1) {
    out.ci_low = out.ci_high = out.mean;
    return out;
  }
  SplitMix64 rng{options.seed};
  const uint64_t n = values.size();
  std::vector<double> means(static_cast<size_t>(options.resamples));
  for (double& m : means) {
    double s = 0;
    for (uint64_t i = 0; i < n; ++i) s += values[rng.next() % n];  // bias < n / 2^64
    m = s / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  double alpha = 1 - options.confidence;
  out.ci_low = quantile(means, alpha / 2);
  out.ci_high = quantile(means, 1 - alpha / 2);
  return out;
}

std::optional<double> fine_prune_gain(const IndividualResult& r) {
  auto personalized = accuracy_of(r, "fine_prune");
  if (!personalized || !r.general_accuracy) return std::nullopt;
  return *personalized - *r.general_accuracy;
}

std::vector<MethodSummary> summarize_methods(const CampaignResults& results,
                                             const BootstrapOptions& options) {
  std::vector<std::string> names = {"general"};
  names.insert(names.end(), result_methods().begin(), result_methods().end());
  std::vector<MethodSummary> out;
  auto add = [&](const std::string& name, auto value_of) {
    std::vector<double> values;
    for (const auto& r : results.individuals) {
      if (auto v = value_of(r)) values.push_back(*v);
    }
    out.push_back({name, bootstrap_mean_ci(values, options)});
  };
  for (const auto& name : names) {
    add(name, [&](const IndividualResult& r) { return accuracy_of(r, name); });
  }
  add("gain", fine_prune_gain);
  return out;
}

}  // namespace fp::report
