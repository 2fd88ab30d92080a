// The dashboard's API answers over a finished store, without HTTP: how long each
// endpoint the pages poll takes, and where a campaign-detail answer spends its time
// (loading the results from SQLite, the bootstrap intervals, the JSON).
//
//   build/bench/fp-bench dashboard_api --db /tmp/fp-10k/fp.db --campaign 1 --repeat 20
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "benchmarks.h"
#include "dashboard/api.h"
#include "report/campaign_results.h"
#include "report/method_summary.h"
#include "report/results_json.h"
#include "store/store.h"
#include "store/store_to_read.h"

namespace {

using fp::bench::seconds_since;
using Clock = std::chrono::steady_clock;

// Median and max of `repeat` runs of `f`, in milliseconds.
template <typename F>
std::pair<double, double> time_ms(int repeat, F f) {
  std::vector<double> ms;
  for (int k = 0; k < repeat; ++k) {
    auto t = Clock::now();
    f();
    ms.push_back(1000 * seconds_since(t));
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.back()};
}

void row(const std::string& what, std::pair<double, double> ms, size_t bytes = 0) {
  std::printf("%-58s %9.1f %9.1f", what.c_str(), ms.first, ms.second);
  if (bytes) std::printf(" %10zu", bytes);
  std::printf("\n");
}

}  // namespace

int fp::bench::dashboard_api(int argc, char** argv) {
  CLI::App app{"Time the dashboard's API endpoints over a store", "fp-bench dashboard_api"};
  std::string db;
  int64_t campaign = 1;
  int repeat = 20;
  app.add_option("--db", db, "SQLite store (a finished campaign)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--campaign", campaign, "campaign id");
  app.add_option("--repeat", repeat, "runs per measurement (median and max shown)")
      ->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);

  // Read as it is: Store::open wrote a schema into an empty file, migrated an older one.
  auto read = fp::store::open_to_read(db, "fp-bench-dashboard");
  auto store = read.ok() ? fp::Result<fp::store::Store*>(read->store.get())
                         : fp::Result<fp::store::Store*>(read.status());
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
    return 1;
  }
  const double now = 2e9;
  // Loaded once first: a --campaign that is not there was "the value of a Result that holds
  // an error was asked for" in the timing loop.
  if (auto first = fp::report::load_campaign_results(**store, campaign, now); !first.ok()) {
    std::fprintf(stderr, "--campaign %lld: %s\n", static_cast<long long>(campaign),
                 first.status().to_string().c_str());
    return 1;
  }
  std::printf("%-58s %9s %9s %10s\n", "step or endpoint", "median ms", "max ms", "bytes");

  // The parts of a campaign-detail answer.
  row("  Store::tasks (campaign)", time_ms(repeat, [&] { (void)(*store)->tasks(campaign); }));
  row("  Store::telemetry (campaign)",
      time_ms(repeat, [&] { (void)(*store)->telemetry(campaign); }));
  fp::report::CampaignResults results;
  row("load_campaign_results (SQLite -> rows)", time_ms(repeat, [&] {
        results = std::move(fp::report::load_campaign_results(**store, campaign, now)).value();
      }));
  std::printf("  (%zu individuals)\n", results.individuals.size());
  row("summarize_methods (5 bootstrap intervals, not cached)",
      time_ms(repeat, [&] { (void)fp::report::summarize_methods(results); }));
  {  // the same intervals, each resampled on its own (as before bootstrap_mean_cis)
    const auto m = fp::report::method_samples(results);
    row("  the same intervals, one method at a time", time_ms(repeat, [&] {
          for (const auto& v : m.samples) (void)fp::report::bootstrap_mean_ci(v);
        }));
  }
  fp::report::SummaryCache cache;
  (void)cache.summarize(results, now);
  row("SummaryCache::summarize, values unchanged",
      time_ms(repeat, [&] { (void)cache.summarize(results, now); }));

  // Each endpoint the pages poll, answered and serialised as the server does.
  fp::dash::Api api(**store);
  for (const auto& [path, query] : std::vector<std::pair<std::string, std::string>>{
           {"/api/summary", ""},
           {"/api/campaigns", ""},
           {"/api/agents", "sort=state&limit=50"},
           {"/api/campaigns/" + std::to_string(campaign), "status=started&sort=-task&limit=30"},
           {"/api/campaigns/" + std::to_string(campaign), "offset=0&limit=50"},
           {"/api/campaigns/" + std::to_string(campaign), "sort=-gain&q=agent&limit=50"},
           {"/api/campaigns/" + std::to_string(campaign) + "/distribution", ""},
           {"/api/campaigns/" + std::to_string(campaign) + "/curve", "limit=1000"}}) {
    size_t bytes = 0;
    auto ms = time_ms(repeat, [&, path = path, query = query] {
      fp::dash::ApiReply r = api.handle(path, query, now);
      bytes = r.body.dump().size();
    });
    row(path + (query.empty() ? "" : "?" + query), ms, bytes);
  }
  return 0;
}
