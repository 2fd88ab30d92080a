// A campaign's report, written from the SQLite store only: per-individual results
// as CSV and JSON and the two figures as SVG (svg_figures.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "report/campaign_results.h"

namespace fp {
class StagedFiles;  // util/file_io.h
}  // namespace fp

namespace fp::report {

// One row per individual: status, agent, each method's accuracy, sparsities, MACs.
std::string results_csv(const CampaignResults& results);
// The API's campaign body with its curve under "curve".
std::string results_json(const CampaignResults& results);

// Writes results.csv, results.json, accuracy.svg and curve.svg into `dir` (created
// if needed), all or none (a disk that fills half way leaves the earlier report's files).
// Returns the paths written.
Result<std::vector<std::string>> write_report(const CampaignResults& results,
                                              const std::string& dir);
// The same files staged in `into`, put in place when it is committed (an experiment's
// report and its campaigns' together).
Status stage_report(const CampaignResults& results, const std::string& dir, StagedFiles& into);

// A campaign name made safe as one path component ("fsdd demo/1" -> "fsdd_demo_1").
std::string file_safe_name(const std::string& name);

// The report folder of each of `campaigns` (id, name), in order: file_safe_name of the name,
// with "-<id>" after it where two campaigns' names make one folder name (names differing
// only in non-ASCII letters, "a/b" and "a_b"): one report was written over the other's.
std::vector<std::string> report_folder_names(
    const std::vector<std::pair<int64_t, std::string>>& campaigns);

}  // namespace fp::report
