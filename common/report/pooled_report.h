// Several runs of one experiment pooled into one paired comparison: the held-out
// protocol's test numbers (docs/PROTOCOL.md section 6). Each run is one seed (its own
// general models and individuals); pooling pairs every method with the general model over
// all the runs' individuals, per variant, and Fine-Pruning with every other method, with
// each seed's own mean difference beside the pooled one. Optionally every variant's
// Fine-Pruning against a reference variant's, paired by individual. Read from each run's
// SQLite file only. `fp-sim pool` writes it; docs/RESULTS.md's tables are filled from it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/campaign_results.h"
#include "stats/summary.h"
#include "store/store.h"
#include "util/status.h"

namespace fp::report {

// One run's campaigns, each with its variant ("(default)" for the unnamed one).
struct SeedRun {
  std::string label;  // names the seed in per-seed columns, e.g. "101"
  // The scenario's name: seeds of one experiment pool, different experiments do not ("":
  // unknown, a seed_run.json written before it was kept).
  std::string scenario;
  // The run's end ("done", "interrupted", "failed"): pooling takes finished runs only, whose
  // individuals are all there.
  std::string status = "done";
  // The command-line overrides that change its results (partition.*, baselines.*: not its
  // seed, not its hosting), as the run recorded them; nullopt: unknown (a seed_run.json
  // written before they were kept). Seeds of one experiment share them.
  std::optional<std::vector<std::string>> settings;
  std::vector<std::pair<std::string, CampaignResults>> campaigns;  // (variant, results)
};

// Of a run's recorded overrides ("partition.individuals = 40", ...), those SeedRun::settings
// keeps, in their order.
std::vector<std::string> result_settings(const std::vector<std::string>& overrides);

// The run `run_id` of `store` (0: the latest), labelled with its seed.
Result<SeedRun> load_seed_run(store::Store& store, int64_t run_id = 0);

struct PooledComparison {
  std::string variant, method, versus;  // method (b) compared with versus (a)
  stats::PairedSummary paired;          // of b - a over the pooled individuals
  // Means over the paired individuals of method b's device compute (multiply-accumulates,
  // in GMAC), wall seconds, inference MACs removed (share) and sparsity.
  double compute_gmac = 0, seconds = 0, mac_reduction = 0, sparsity = 0;
  std::vector<std::pair<std::string, double>> per_seed;  // (label, mean of b - a)
};

// Every variant's comparisons, variants in the order the runs hold them; with
// `versus_variant`, also each other variant's Fine-Pruning against that one's.
std::vector<PooledComparison> pool_comparisons(const std::vector<SeedRun>& seeds,
                                               const std::string& versus_variant = "");

// pooled_comparisons.csv (full precision) and .md (percentages, points); `sources` names
// the runs in the Markdown's first line.
std::string pooled_csv(const std::vector<PooledComparison>& rows);
std::string pooled_markdown(const std::vector<PooledComparison>& rows,
                            const std::vector<std::string>& sources);

// Writes both into the folder `dir` (made when missing) together: both or neither (a disk that
// filled after the CSV left the new one beside the old Markdown), one writer at a time (two
// pools into one folder at once left one's CSV beside the other's Markdown). Returns the
// Markdown written.
Result<std::string> write_pooled_comparisons(const std::string& dir,
                                             const std::vector<PooledComparison>& rows,
                                             const std::vector<std::string>& sources);

}  // namespace fp::report
