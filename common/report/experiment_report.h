// A run's experiment report: the tables (CSV and Markdown) and figures (SVG) that
// docs/RESULTS.md shows, written from the run's SQLite file only. Written by
// `fp-sim run --report DIR` at the end of a campaign, or `fp-sim report --out DIR` later.
//
//   summary.csv / .md        one row per variant: each method's mean ± std accuracy, the
//                            gain's spread (median, 10th and 90th percentile, share of
//                            individuals improved / worse), sparsity, and the compute each
//                            method spent on the device (seconds, MACs)
//   individuals.csv / .md    one row per (variant, individual)
//   gain.svg                 every individual's gain, sorted: the spread, not only the mean
//   by_variant.csv/.md/.svg  (several variants) mean accuracy of each method per variant;
//                            over the adaptation samples when the variants set them
//   by_classes.csv/.md/.svg  (individuals with different class counts) mean accuracy of
//                            each method per number of classes, per variant (several
//                            variants: a `variant` column, by_classes_<variant>.svg each)
//   compute.csv / .md        per individual: Fine-Pruning vs fine-tuning, seconds and MACs
//   comparisons.csv / .md    per variant, paired: every method vs the general model and
//                            Fine-Pruning vs every method: mean, median, 95% bootstrap CI of
//                            the difference, Wilcoxon p, improved / worse beyond one
//                            evaluation sample, the method's adaptation compute
//   seed_run.json            what `fp-sim pool` reads of the run: every individual's
//                            outcome per variant and method (report/seed_run_file.h)
//   campaigns/<name>/        the dashboard's per-campaign report: results.csv/.json,
//                            accuracy.svg (per-individual bars), curve.svg (accuracy vs sparsity)
//   report-files.txt         the files above, so a report written into the folder later
//                            removes those it does not write again (report_manifest.h)
#pragma once

#include <string>
#include <vector>

#include "report/run_results.h"
#include "store/store.h"
#include "util/status.h"

namespace fp::report {

// Returns the paths written.
Result<std::vector<std::string>> write_experiment_report(store::Store& store,
                                                         const RunResults& results,
                                                         const std::string& dir);

}  // namespace fp::report
