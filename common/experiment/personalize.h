// One individual's personalization, end to end: what a device agent runs for a task
// and what the paper's per-individual experiments report.
//
//   general model --(record on unlabeled adaptation inputs, choose sparsity, prune)--> Fine-Pruned
//   general model --(backprop with adaptation labels)-----------------------------> fine-tuned
//   general model --(SVD truncation at the Fine-Pruned parameter count)-----------> SVD
// each evaluated on the individual's labeled evaluation set, with its compute cost.
// Without evaluation labels only Fine-Pruning runs and nothing is scored.
// Fine-Pruning is handed only `adaptation.inputs`: its labels are never read.
#pragma once

#include <string>
#include <vector>

#include "baselines/finetune.h"
#include "data/dataset.h"
#include "models/prunable_net.h"
#include "prune/pruner.h"
#include "prune/sparsity_selector.h"
#include "prune/sweep.h"
#include "util/status.h"

namespace fp {

struct PersonalizeConfig {
  PruneConfig prune;            // target_sparsity is used when select_sparsity is false
  bool select_sparsity = true;  // choose the sparsity on the device, without labels
  SelectorConfig selector;
  double heldout_fraction = 0.1;      // of the adaptation inputs, scored by the selector
  std::vector<double> sweep_targets;  // labeled accuracy-vs-sparsity curve (empty: none)
  // > 0: every method adapts on only the first this many adaptation samples (the
  // data-amount experiment); 0: all of them.
  int64_t max_adaptation_samples = 0;
  bool run_finetune = true;
  FinetuneConfig finetune;
  bool run_svd = true;
};

struct MethodResult {
  std::string method;           // "general", "fine_prune", "finetune", "svd"
  double accuracy = 0;          // on the evaluation set
  double sparsity = 0;          // zeroed / prunable weights (SVD: 1 - factorised/dense)
  int64_t parameters = 0;       // non-zero prunable weights (SVD: factorised count)
  int64_t macs_per_sample = 0;  // inference cost of the resulting model
  double wall_seconds = 0;      // time to produce it on the device
  int64_t compute_macs = 0;     // multiply-accumulates spent producing it
};

struct PersonalizeResult {
  MethodResult general, fine_prune, finetune, svd;
  SparsityReport sparsity;        // the Fine-Pruned model's, per layer
  SelectorResult selection;       // empty when select_sparsity is false
  std::vector<SweepPoint> sweep;  // when sweep_targets is set
  double oracle_sparsity = -1;    // best sweep accuracy's sparsity (uses labels; -1: no sweep)
  double oracle_accuracy = -1;
  int64_t adaptation_samples = 0, evaluation_samples = 0;
  // False when the evaluation set had no labels: every accuracy above is then 0 and
  // meaningless (a device's own unlabeled files); the models are still produced.
  bool evaluated = true;
  ModelPtr personalized;  // the Fine-Pruned model
};

Result<PersonalizeResult> personalize(const PrunableNet& general, const Dataset& adaptation,
                                      const Dataset& evaluation, const PersonalizeConfig& config);

}  // namespace fp
