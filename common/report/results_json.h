// A campaign's results as JSON: the bodies of the dashboard's campaign API and of the
// report's results.json, so both show the same numbers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "report/campaign_results.h"
#include "report/method_summary.h"

namespace fp::report {

// A number, or null when there is none.
nlohmann::json optional_json(const std::optional<double>& v);
// `text` parsed as JSON, or the text itself where it is not JSON.
nlohmann::json parsed_or_text(const std::string& text);

// Task counts by status, with their total.
nlohmann::json counts_json(const store::TaskCounts& counts);
// id, name, status, dataset, model, task counts, progress, ETA.
nlohmann::json campaign_summary_json(const store::CampaignRecord& c, const CampaignProgress& p);
// The summary plus the configuration, each individual's results (with Fine-Pruning's
// gain) and the means with their confidence intervals: campaign_overview_json with all
// individual_json rows under "individuals".
nlohmann::json campaign_detail_json(const CampaignResults& results);
// The detail body without its rows: summary, configuration, "mean" per method and
// "methods_summary" (from `summary`, as summarize_methods returns it).
nlohmann::json campaign_overview_json(const CampaignResults& results,
                                      const std::vector<MethodSummary>& summary,
                                      const BootstrapOptions& options = {});
// One individual's row: status, agent, each method's outcome, and flat copies of the
// accuracies, Fine-Pruning's sparsity and gain that tables and charts show.
nlohmann::json individual_json(const IndividualResult& individual);
// Per method ("general", the telemetry methods, "gain" = fine_prune - general): n, mean
// and a 95% bootstrap interval {n, mean, ci_low, ci_high}, and under "interval" how it
// was computed. The detail body carries it as "methods_summary".
nlohmann::json methods_summary_json(const std::vector<MethodSummary>& summary,
                                    const BootstrapOptions& options = {});
// The accuracy-vs-sparsity curves: "individuals" = those of the swept individuals from
// `offset` on, at most `limit` ({individual, general, chosen, points}); "swept" = how
// many individuals have one; "mean" = the mean curve over all of them, point by point;
// "mean_general" = the general model's mean accuracy over all of them.
nlohmann::json campaign_curve_json(const CampaignResults& results, size_t offset = 0,
                                   size_t limit = SIZE_MAX);
// The per-individual numbers the distribution charts draw, as columns over the
// individuals with a gain (in task order): {"individual": [...], "general": [...],
// "fine_prune": [...], "gain": [...]}. About 40 bytes an individual, where a detail row
// is about 1 KB.
nlohmann::json campaign_distribution_json(const CampaignResults& results);

}  // namespace fp::report
