// Baseline: backprop fine-tuning of the general model with labels on the
// individual's adaptation set (the same data Fine-Pruning sees, plus labels).
#pragma once

#include <functional>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "train/trainer.h"

namespace fp {

struct FinetuneConfig {
  TrainConfig train{"sgd", 0.01, 0.9, 0.0, 5, 32, 1};
  bool last_layer_only = false;  // true: only the classifier is updated
};

// Fine-tunes `model` in place; `on_epoch(epoch, loss)` is called after each epoch.
Result<TrainReport> finetune(PrunableNet& model, const Dataset& labeled_adaptation,
                             const FinetuneConfig& config,
                             const std::function<void(int64_t, double)>& on_epoch = {});

}  // namespace fp
