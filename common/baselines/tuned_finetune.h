// Baseline: a fair, tuned fine-tuning of the general model with the adaptation labels.
//
// The adaptation set is split (seeded) into a training part and a labeled validation
// slice; the evaluation set is never seen. For every learning rate of a small grid and
// each BatchNorm mode (statistics updated, or frozen at the general model's), Adam
// trains with early stopping on the validation slice. The best (rate, mode, epoch) by
// validation accuracy wins, and only if it beats the general model on the same slice;
// otherwise the general model is returned unchanged. Its compute counts the whole grid.
#pragma once

#include <vector>

#include "baselines/baseline_config.h"
#include "data/dataset.h"
#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct TunedFinetuneReport {
  double learning_rate = 0;        // the chosen one (0 when the general model was kept)
  bool frozen_batch_norm = false;  // the chosen BatchNorm mode
  int64_t best_epoch = 0;          // 0: the general model was kept
  bool kept_general = true;
  // Too few samples to hold out a validation slice and train on the rest (fewer than 3 at
  // the default fraction): nothing was trained, the general model stands in.
  bool too_few_samples = false;
  double validation_accuracy = 0;  // of the returned model
  double general_validation_accuracy = 0;
  int64_t trials = 0;  // (rate, mode) pairs trained
  int64_t epochs_run = 0;
  int64_t train_samples = 0, validation_samples = 0;
  int64_t backward_samples = 0;  // forward + backward passes, all trials
  int64_t forward_samples = 0;   // forward-only passes (validation), all trials
  int64_t compute_macs = 0;      // 3 x backward + 1 x forward samples, dense MACs each
  double wall_seconds = 0;
};

// Replaces `model`'s parameters and buffers with the chosen fine-tuned ones (or leaves
// them when the general model wins on validation).
Result<TunedFinetuneReport> tuned_finetune(PrunableNet& model, const Dataset& labeled_adaptation,
                                           const TunedFinetuneConfig& config);

}  // namespace fp
