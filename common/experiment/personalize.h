// One individual's personalization, end to end: what a device agent runs for a task
// and what the paper's per-individual experiments report.
//
//   general model --(record on unlabeled adaptation inputs, choose sparsity, prune)--> Fine-Pruned
//   general model --(backprop with adaptation labels)-----------------------------> fine-tuned
//   general model --(SVD truncation at the Fine-Pruned parameter count)-----------> SVD
//   general / Fine-Pruned model --(EM priors, AdaBN, Tent: unlabeled inputs)-------> label-free
// each evaluated on the individual's labeled evaluation set, with its compute cost.
// Fine-Pruning and the label-free methods are handed only `adaptation.inputs`: their
// labels are never read. Method names: experiment/methods.h. Without evaluation labels
// only Fine-Pruning runs and nothing is scored.
#pragma once

#include <string>
#include <vector>

#include "baselines/batch_norm_adapt.h"
#include "baselines/finetune.h"
#include "baselines/prior_em.h"
#include "baselines/tuned_finetune.h"
#include "data/dataset.h"
#include "experiment/label_free_figures.h"
#include "experiment/personalize_config.h"
#include "experiment/reestimation_check.h"
#include "models/prunable_net.h"
#include "prune/pruner.h"
#include "prune/shift_detector.h"
#include "prune/sparsity_selector.h"
#include "prune/sweep.h"
#include "util/status.h"

namespace fp {

struct MethodResult {
  std::string method;           // "general", "fine_prune", or a name of experiment/methods.h
  double accuracy = 0;          // on the evaluation set
  double sparsity = 0;          // zeroed / prunable weights (SVD: 1 - factorised/dense)
  int64_t parameters = 0;       // non-zero prunable weights (SVD: factorised count)
  int64_t macs_per_sample = 0;  // inference cost of the resulting model
  double wall_seconds = 0;      // time to produce it on the device
  // The producing thread's CPU time (fine_prune only; with one torch thread, all of its
  // compute): unlike wall time, not inflated by other processes on a shared machine.
  double cpu_seconds = 0;
  int64_t compute_macs = 0;  // multiply-accumulates spent producing it
  // Its compact model (pruned units removed, models/compact.h): parameters and artifact
  // bytes (for an unpruned model: the dense model's).
  int64_t compact_parameters = 0, compact_bytes = 0;
};

struct PersonalizeResult {
  MethodResult general, fine_prune, finetune, svd;
  std::vector<MethodResult> extra;  // config.extra_methods, in order
  TunedFinetuneReport finetune_report;
  SparsityReport sparsity;   // the Fine-Pruned model's, per layer
  SelectorResult selection;  // empty when select_sparsity is false
  // Fine-Pruning's recording pass and sparsity selection, wall seconds (parts of
  // fine_prune.wall_seconds; the selection's own parts are in `selection`).
  double record_seconds = 0, select_seconds = 0;
  // The shift the device saw (prune.class_spread_threshold > 0; otherwise class_spread
  // is -1 and shift kClassPrior, i.e. pruned as configured).
  double class_spread = -1;
  ShiftKind shift = ShiftKind::kClassPrior;
  // The check of an input-shift verdict (prune.reestimation_min_confidence_ratio > 0) and whether
  // it overturned the verdict (shift is then kClassPrior).
  ReestimationCheck reestimation;
  bool shift_overturned = false;
  std::vector<SweepPoint> sweep;  // when sweep_targets is set
  double oracle_sparsity = -1;    // best sweep accuracy's sparsity (uses labels; -1: no sweep)
  double oracle_accuracy = -1;
  int64_t adaptation_samples = 0, evaluation_samples = 0;
  // Of the adaptation samples, those Fine-Pruning ran on (config.statistics_samples) and,
  // among them, the held-out tail its sparsity choice scored candidates on.
  int64_t fine_prune_samples = 0, heldout_samples = 0;
  // False when the evaluation set had no labels: every accuracy above is then 0 and
  // meaningless (a device's own unlabeled files); the models are still produced.
  bool evaluated = true;
  // The general and Fine-Pruned models on the evaluation inputs, labels or not (from the
  // same passes that score them), or on a device's every held-out input where only some
  // are labeled (agent/device_personalize.h); over `label_free_samples` inputs.
  LabelFreeFigures label_free;
  int64_t label_free_samples = 0;
  ModelPtr personalized;  // the Fine-Pruned model
};

// What Fine-Pruning runs on: `inputs`, whose last `heldout` rows are the selector's held-out
// tail (config.heldout_fraction of all the adaptation inputs). With
// config.statistics_samples > 0 the rows before the tail are at most that many of the
// adaptation inputs before it, spread evenly over them (row floor(i * before / cap)), so a
// device's inputs sorted by class or by time still contribute from end to end.
struct FinePruneInputs {
  torch::Tensor inputs;
  int64_t heldout = 0;
};
FinePruneInputs fine_prune_inputs(const torch::Tensor& adaptation, const PersonalizeConfig& config);

Result<PersonalizeResult> personalize(const PrunableNet& general, const Dataset& adaptation,
                                      const Dataset& evaluation, const PersonalizeConfig& config);

}  // namespace fp
