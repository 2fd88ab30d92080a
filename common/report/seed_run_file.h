// A seed's per-individual outcomes as a small JSON file, seed_run.json, written into every
// experiment report: what `fp-sim pool` needs of a run, so that runs can be pooled from
// their committed reports after their SQLite files are gone (a campaign's run folder holds
// models and is not kept). Only the fields pooling reads are stored; accuracies keep full
// precision, so pooling from the files gives the same tables as pooling from the runs.
#pragma once

#include <string>

#include "report/pooled_report.h"
#include "util/status.h"

namespace fp::report {

inline constexpr const char* kSeedRunFile = "seed_run.json";

// {"format": "fineprune-seed-run", "version": 1, "seed": label, "status": the run's end
//  (absent in files written before it: "done"), "campaigns": [{"variant",
//  "individuals": [{"individual", "general", "eval_samples", "macs_dense", "methods":
//  {name: {"accuracy", "sparsity", "macs_effective", "wall_seconds", "compute_macs"}}}]}],
//  "settings": SeedRun::settings (absent in files written before it: unknown)}.
// Only individuals with a general-model accuracy (those pooling pairs) are written.
std::string seed_run_to_json(const SeedRun& seed);

// The file's SeedRun; InvalidArgument naming `source` and the first field that is missing
// or of the wrong type, Corruption when the text is not JSON.
Result<SeedRun> parse_seed_run(const std::string& text, const std::string& source);

}  // namespace fp::report
