// A campaign's results as researchers read them: one row per individual with the
// general model's accuracy next to Fine-Pruning's and the baselines', and the
// accuracy-vs-sparsity curves. Built from the SQLite store only; shared by the
// dashboard's API and the report's CSV, JSON and SVG figures.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "experiment/methods.h"
#include "store/store.h"
#include "util/status.h"

namespace fp::report {

// Telemetry method names, in the order the figures show them after "general".
inline const std::vector<std::string>& result_methods() {
  static const std::vector<std::string> methods = {kFinePruneMethod, "finetune", "svd"};
  return methods;
}

struct MethodOutcome {
  std::optional<double> accuracy;  // null when the device had no labels
  double sparsity = 0, target_sparsity = 0;
  int64_t macs_effective = 0;
  double wall_seconds = 0;
  int64_t compute_macs = 0;   // spent producing the model on the device
  int64_t compact_bytes = 0;  // its compact model's artifact (pruned units removed); 0: unknown
};

struct CurvePoint {
  double target = 0, sparsity = 0, accuracy = 0;
  int64_t macs = 0;
};

struct IndividualResult {
  std::string individual;
  std::string task_status;  // pending, assigned, done, failed
  std::string agent_id;
  int64_t task_id = 0, attempts = 0;
  std::string error;
  // The general model on this individual: the accuracy reported with Fine-Pruning's
  // result (each report carries its own copy, noised independently under differential
  // privacy), else the first reported one.
  std::optional<double> general_accuracy;
  std::map<std::string, MethodOutcome> methods;  // by method, those reported so far
  std::vector<CurvePoint> curve;                 // Fine-Pruning's labeled sweep
  int64_t macs_dense = 0, adaptation_samples = 0, eval_samples = 0;
  // A device without labels: no accuracies, only the label-free agreement of the
  // personalized with the general model on its held-out files.
  bool evaluated = true;
  std::optional<double> agreement;

  // The outcome of `name`, or null when it has not reported.
  const MethodOutcome* method(const std::string& name) const;
  // `evaluated`, or nullopt where nothing was measured (a failed or pending task): such an
  // individual is neither labeled nor not (the results files said it was labeled).
  std::optional<bool> labeled() const {
    return methods.empty() ? std::nullopt : std::optional<bool>(evaluated);
  }
};

struct CampaignProgress {
  store::TaskCounts counts;
  double fraction = 0;                // finished (done + failed) / total
  std::optional<double> eta_seconds;  // from the recent pace; none before the first result
};

// The ETA's pace is that of a campaign's latest finished tasks: a tenth of those finished,
// at least this many and at most ten times as many (with fewer, all since the start).
constexpr int64_t kEtaRecentFinishes = 20;

struct CampaignResults {
  store::CampaignRecord campaign;
  CampaignProgress progress;
  std::vector<IndividualResult> individuals;  // in task order
};

// Mean of the curves, point by point over the sweep targets.
struct MeanCurvePoint {
  double target = 0, sparsity = 0, accuracy = 0;
  int count = 0;  // individuals with a point at this target
};

// The progress of a campaign from its tasks; `now` in Unix seconds.
CampaignProgress campaign_progress(const store::CampaignRecord& campaign,
                                   const std::vector<store::TaskRecord>& tasks, double now);

// Everything about campaign `id`; NotFound when there is none.
Result<CampaignResults> load_campaign_results(store::Store& store, int64_t id, double now);

namespace detail {
struct TelemetryFold;
}

// load_campaign_results that reads each telemetry row once: it keeps, per campaign, what
// the rows read so far say about each individual and asks the store only for newer ones
// (telemetry is only ever appended; a store holding fewer rows than were read is read
// again from the start). Tasks are read on every call: their status changes. For a
// dashboard that polls a running campaign. Keeps at most `max_campaigns`.
class ResultsCache {
 public:
  explicit ResultsCache(size_t max_campaigns = 16);
  ~ResultsCache();
  ResultsCache(const ResultsCache&) = delete;
  ResultsCache& operator=(const ResultsCache&) = delete;

  Result<CampaignResults> load(store::Store& store, int64_t id, double now);
  int64_t rows_read() const { return rows_read_; }  // telemetry rows read so far, in all

 private:
  size_t max_campaigns_;
  int64_t rows_read_ = 0;
  std::map<int64_t, std::unique_ptr<detail::TelemetryFold>> folds_;
};
// The same by name.
Result<CampaignResults> load_campaign_results(store::Store& store, const std::string& name,
                                              double now);

// The accuracy of `method` for one individual ("general" reads general_accuracy).
std::optional<double> accuracy_of(const IndividualResult& r, const std::string& method);

std::vector<MeanCurvePoint> mean_curve(const CampaignResults& results);

}  // namespace fp::report
