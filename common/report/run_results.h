// A run's results, read back from SQLite: one row per (variant, individual) with the
// general model's accuracy and each method's, and a summary per variant. Used at the
// end of `fp-sim run` and by `fp-sim report` / `fp-sim export` on a finished run.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/run_store.h"
#include "store/store.h"

namespace fp::report {

struct IndividualRow {
  std::string variant;
  std::string individual;
  std::string agent_id;
  std::string status;  // the task's: "done", "failed", "pending", "assigned"
  std::string error;
  std::optional<double> general, fine_prune, finetune, svd;  // accuracies on the eval set
  double sparsity = 0;         // Fine-Pruned share of prunable weights
  double target_sparsity = 0;  // what Fine-Pruning aimed for (chosen without labels, or fixed)
  std::optional<double> svd_sparsity;  // where SVD ran, with labels or without
  int64_t adaptation_samples = 0, eval_samples = 0;
  double fine_prune_seconds = 0, finetune_seconds = 0;  // on the device
  int64_t macs_dense = 0, macs_fine_pruned = 0;         // inference, per sample
  int64_t compact_bytes = 0;  // the Fine-Pruned model with its pruned units removed; 0: unknown
  double mac_reduction() const {
    return macs_dense > 0 ? 1.0 - static_cast<double>(macs_fine_pruned) / macs_dense : 0.0;
  }
  int64_t fine_prune_compute_macs = 0, finetune_compute_macs = 0;  // spent adapting
  int64_t classes = 0;  // classes the individual holds (k-classes partitions; 0: unknown)
  // False for a device without labels (a real device joining with its own files): no
  // accuracies exist, the tables say "unlabeled" instead of a number.
  bool evaluated = true;
  bool measured = false;     // some method reported (not so for a failed or pending task)
  bool fine_pruned = false;  // a Fine-Pruning report arrived
  // Accuracy and adaptation compute of further methods (common/experiment/methods.h:
  // label-free competitors, combinations, svd_macs, finetune_plain), by method name.
  std::map<std::string, double> other_accuracy;
  std::map<std::string, int64_t> other_compute_macs;
  std::optional<double> gain() const;  // fine_prune - general
};

struct Stat {
  int64_t n = 0;
  double mean = 0, std = 0, min = 0, max = 0;  // std: sample standard deviation
};
Stat describe(const std::vector<double>& values);

// A table cell of `s`: "mean ± std", scaled (100: percent), `precision` decimals, with a
// sign where `signed_mean`; the mean alone for one value (one value has no spread, and
// "± 0.0" read as a measured one); "-" for none.
std::string mean_spread_text(const Stat& s, double scale, int precision, bool signed_mean = false);
// "[low, high]" of a confidence interval over `n` values, scaled, with signs; "-" below two
// (the bootstrap of one value is that value: [x, x] read as a measured certainty).
std::string interval_text(int64_t n, double low, double high, double scale);

struct VariantSummary {
  std::string variant;
  int64_t individuals = 0, done = 0, failed = 0;
  Stat general, fine_prune, finetune, svd, gain, sparsity, mac_reduction;
  std::map<std::string, Stat> other;  // accuracy of each of RunResults::other_methods
};

struct RunResults {
  store::RunRecord run;
  std::vector<IndividualRow> rows;  // by variant, then individual in task order
  std::vector<VariantSummary> summaries;
  // The further methods any row reports (IndividualRow::other_accuracy), in
  // experiment/methods.h's order: every table and export has a column for each.
  std::vector<std::string> other_methods;
};

// `run_id` 0: the latest run in the file.
Result<RunResults> read_results(store::Store& store, int64_t run_id = 0);
// One variant's summary of its rows: each accuracy over the rows that have it; sparsity and
// MAC reduction over every Fine-Pruned row, labeled or not.
VariantSummary summarize_variant(const std::string& variant, const std::vector<IndividualRow>& rows,
                                 const std::vector<std::string>& other_methods);

// Human-readable: the per-individual table (at most `max_rows` rows, 0: all) and
// the summary.
std::string format_table(const RunResults& results, size_t max_rows = 0);
std::string format_summary(const RunResults& results);
// One paragraph on where a run's time and memory went (RunRecord::stats_json); "" when the
// run recorded none.
std::string format_run_stats(const std::string& stats_json);

// Machine-readable exports of the same rows (CSV: header + one line per row; after the
// fixed columns, "<method>_accuracy,<method>_compute_macs" for each other method).
std::string to_csv(const RunResults& results);
std::string to_json(const RunResults& results);  // {run, other_methods, summaries, rows}

}  // namespace fp::report
