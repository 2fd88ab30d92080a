// A campaign's results as JSON: the bodies of the dashboard's campaign API and of the
// report's results.json, so both show the same numbers.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "report/campaign_results.h"

namespace fp::report {

// A number, or null when there is none.
nlohmann::json optional_json(const std::optional<double>& v);
// `text` parsed as JSON, or the text itself where it is not JSON.
nlohmann::json parsed_or_text(const std::string& text);

// Task counts by status, with their total.
nlohmann::json counts_json(const store::TaskCounts& counts);
// id, name, status, dataset, model, task counts, progress, ETA.
nlohmann::json campaign_summary_json(const store::CampaignRecord& c, const CampaignProgress& p);
// The summary plus the configuration, each individual's results and the means.
nlohmann::json campaign_detail_json(const CampaignResults& results);
// Each individual's accuracy-vs-sparsity curve and their mean.
nlohmann::json campaign_curve_json(const CampaignResults& results);

}  // namespace fp::report
