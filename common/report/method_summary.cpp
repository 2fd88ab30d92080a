#include "report/method_summary.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "experiment/methods.h"
#include "stats/bootstrap.h"
#include "util/thread_name.h"

namespace fp::report {

namespace {

stats::BootstrapOptions stats_options(const BootstrapOptions& options) {
  stats::BootstrapOptions o;
  o.resamples = options.resamples;
  o.confidence = options.confidence;
  o.seed = options.seed;
  return o;
}

// The mean of `values` with `ci` as its interval; without one (no resampling asked for,
// or a single value) the interval collapses to the mean.
MeanInterval with_interval(const std::vector<double>& values, const stats::Interval* ci) {
  MeanInterval out;
  out.n = static_cast<int64_t>(values.size());
  if (values.empty()) return out;
  double sum = 0;
  for (double v : values) sum += v;
  out.mean = sum / static_cast<double>(values.size());
  // A value that is no finite number (only a tampered database holds one: the wire refuses
  // it) gives no interval: a resample without it had kept a finite end beside a null mean.
  const bool interval = ci && values.size() > 1 && std::isfinite(*out.mean);
  out.ci_low = interval ? ci->low : *out.mean;
  out.ci_high = interval ? ci->high : *out.mean;
  return out;
}

// bootstrap_mean_ci of each sample, resampled together (stats::bootstrap_mean_cis).
std::vector<MeanInterval> bootstrap_mean_cis(const std::vector<std::vector<double>>& samples,
                                             const BootstrapOptions& options) {
  std::vector<stats::Interval> cis;
  if (options.resamples >= 1) cis = stats::bootstrap_mean_cis(samples, stats_options(options));
  std::vector<MeanInterval> out;
  for (size_t k = 0; k < samples.size(); ++k) {
    out.push_back(with_interval(samples[k], cis.empty() ? nullptr : &cis[k]));
  }
  return out;
}

}  // namespace

MeanInterval bootstrap_mean_ci(const std::vector<double>& values, const BootstrapOptions& options) {
  return bootstrap_mean_cis({values}, options)[0];
}

std::optional<double> fine_prune_gain(const IndividualResult& r) {
  auto personalized = accuracy_of(r, kFinePruneMethod);
  if (!personalized || !r.general_accuracy) return std::nullopt;
  return *personalized - *r.general_accuracy;
}

MethodSamples method_samples(const CampaignResults& results) {
  MethodSamples out;
  auto add = [&](const std::string& name, auto value_of) {
    out.names.push_back(name);
    std::vector<double>& values = out.samples.emplace_back();
    for (const auto& r : results.individuals) {
      if (auto v = value_of(r)) values.push_back(*v);
    }
  };
  add(kGeneralMethod, [](const IndividualResult& r) { return r.general_accuracy; });
  for (const auto& name : result_methods()) {
    add(name, [&](const IndividualResult& r) { return accuracy_of(r, name); });
  }
  add("gain", fine_prune_gain);
  return out;
}

namespace {

std::vector<MethodSummary> summarize(const MethodSamples& m, const BootstrapOptions& options) {
  // All methods at once: most have one value per individual, and share the draws.
  std::vector<MeanInterval> stats = bootstrap_mean_cis(m.samples, options);
  std::vector<MethodSummary> out;
  for (size_t k = 0; k < m.names.size(); ++k) out.push_back({m.names[k], stats[k]});
  return out;
}

// FNV-1a over the bytes of each value: equal inputs, equal fingerprints.
struct Fnv1a {
  uint64_t h = 14695981039346656037ull;
  template <typename T>
  void add(const T& v) {
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    for (unsigned char b : bytes) h = (h ^ b) * 1099511628211ull;
  }
};

uint64_t fingerprint(const MethodSamples& m, const BootstrapOptions& options) {
  Fnv1a f;
  f.add(options.resamples);
  f.add(options.confidence);
  f.add(options.seed);
  for (const auto& values : m.samples) {
    f.add(values.size());
    for (double v : values) f.add(v);
  }
  return f.h;
}

}  // namespace

std::vector<MethodSummary> summarize_methods(const CampaignResults& results,
                                             const BootstrapOptions& options) {
  return summarize(method_samples(results), options);
}

SummaryCache::Answer SummaryCache::summarize(const CampaignResults& results, double now,
                                             const BootstrapOptions& options) {
  MethodSamples samples = method_samples(results);
  const uint64_t key = fingerprint(samples, options);
  auto it = by_campaign_.find(results.campaign.id);
  if (it != by_campaign_.end()) {
    Entry& e = it->second;
    if (e.refresh.valid() &&
        e.refresh.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      e.last = e.refresh.get();  // a refresh finished: its intervals from now on
    if (e.last.fingerprint == key) return {e.last.methods, e.last.computed_at, true};
    const bool running = results.campaign.status != "done" && results.progress.fraction < 1;
    if (running) {
      // A clock that stepped back (now before the last computation) redoes them too: it
      // waited until the clock passed that stamp again.
      const double since = now - e.last.computed_at;
      if (!e.refresh.valid() && (since >= refresh_seconds_ || since < 0)) {
        ++bootstraps_;
        e.refresh =
            std::async(std::launch::async, [samples = std::move(samples), options, key, now] {
              set_thread_name("fp-intervals");
              return Summary{key, report::summarize(samples, options), now};
            });
      }
      return {e.last.methods, e.last.computed_at, false};
    }
    // A finished campaign's values: exact, in this call. A refresh still running is waited
    // for (a future of std::async cannot be abandoned); kept if it resampled these very
    // values (whether it had finished must not decide how many bootstraps run), else dropped.
    if (e.refresh.valid()) {
      Summary refreshed = e.refresh.get();
      if (refreshed.fingerprint == key) {
        e.last = std::move(refreshed);
        return {e.last.methods, e.last.computed_at, true};
      }
    }
  } else {
    if (by_campaign_.size() >= max_campaigns_) by_campaign_.erase(by_campaign_.begin());
    it = by_campaign_.emplace(results.campaign.id, Entry{}).first;
  }
  ++bootstraps_;
  Summary& last = it->second.last;
  last = {key, report::summarize(samples, options), now};
  return {last.methods, now, true};
}

void SummaryCache::wait_for_refreshes() {
  for (auto& [id, e] : by_campaign_)
    if (e.refresh.valid()) e.refresh.wait();
}

}  // namespace fp::report
