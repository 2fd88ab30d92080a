// A campaign's report, written from the SQLite store only: per-individual results
// as CSV and JSON and the two figures as SVG (svg_figures.h).
#pragma once

#include <string>
#include <vector>

#include "report/campaign_results.h"

namespace fp::report {

// One row per individual: status, agent, each method's accuracy, sparsities, MACs.
std::string results_csv(const CampaignResults& results);
// The API's campaign body with its curve under "curve".
std::string results_json(const CampaignResults& results);

// Writes results.csv, results.json, accuracy.svg and curve.svg into `dir` (created
// if needed). Returns the paths written.
Result<std::vector<std::string>> write_report(const CampaignResults& results,
                                              const std::string& dir);

// A campaign name made safe as one path component ("fsdd demo/1" -> "fsdd_demo_1").
std::string file_safe_name(const std::string& name);

}  // namespace fp::report
