// Baseline: backprop fine-tuning of the general model with labels on the
// individual's adaptation set (the same data Fine-Pruning sees, plus labels).
#pragma once

#include <functional>

#include "baselines/baseline_config.h"
#include "data/dataset.h"
#include "models/prunable_net.h"
#include "train/trainer.h"

namespace fp {

// Fine-tunes `model` in place; `on_epoch(epoch, loss)` is called after each epoch.
Result<TrainReport> finetune(PrunableNet& model, const Dataset& labeled_adaptation,
                             const FinetuneConfig& config,
                             const std::function<void(int64_t, double)>& on_epoch = {});

}  // namespace fp
