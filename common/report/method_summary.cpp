#include "report/method_summary.h"

#include "stats/bootstrap.h"

namespace fp::report {

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
  stats::BootstrapOptions o;
  o.resamples = options.resamples;
  o.confidence = options.confidence;
  o.seed = options.seed;
  stats::Interval ci = stats::bootstrap_mean_ci(values, o);
  out.ci_low = ci.low;
  out.ci_high = ci.high;
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
