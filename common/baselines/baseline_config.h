// The baselines' settings (no LibTorch): plain and tuned fine-tuning, EM class priors,
// Tent. The methods are in baselines/*.h next to this file.
#pragma once

#include <cstdint>
#include <vector>

#include "train/train_config.h"

namespace fp {

struct FinetuneConfig {
  TrainConfig train{"sgd", 0.01, 0.9, 0.0, 5, 32, 1};
  bool last_layer_only = false;  // true: only the classifier is updated
};

struct TunedFinetuneConfig {
  std::vector<double> learning_rates = {1e-4, 3e-4, 1e-3};  // Adam
  int64_t max_epochs = 10;
  int64_t patience = 2;  // epochs without a better validation accuracy before stopping
  int64_t batch_size = 32;
  double validation_fraction = 0.2;  // of the adaptation set
  bool try_training_batch_norm = true;
  bool try_frozen_batch_norm = true;  // only where the model has BatchNorm
  bool last_layer_only = false;
  uint64_t seed = 1;  // split and batch order
};

struct PriorEmConfig {
  int max_iterations = 200;
  double tolerance = 1e-6;  // stop when no prior moves by more than this
  double min_prior = 1e-6;  // floor before the log, so a vanished class keeps a finite bias
  // The general model's training priors; empty: uniform (the balanced general data).
  std::vector<double> training_priors;
  int64_t batch_size = 256;
};

struct TentConfig {
  double learning_rate = 1e-3;  // Adam, as Tent used for CIFAR
  int64_t epochs = 1;
  int64_t batch_size = 64;
  uint64_t seed = 1;  // batch order
};

}  // namespace fp
