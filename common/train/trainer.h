// Supervised training of the general model (and of the backprop baseline).
#pragma once

#include <functional>
#include <string>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct TrainConfig {
  std::string optimizer = "adam";  // "adam" or "sgd"
  double learning_rate = 1e-3;
  double momentum = 0.9;  // sgd only
  double weight_decay = 0.0;
  int64_t epochs = 1;
  int64_t batch_size = 64;
  uint64_t seed = 1;  // shuffling order
  // Parameters whose layer is pruned stay pruned: masks are not trained and
  // effective weights of masked entries keep no gradient.
};

struct TrainReport {
  double final_loss = 0;
  double wall_seconds = 0;
  int64_t samples_seen = 0;
  int64_t macs = 0;  // forward + backward multiply-accumulates (3x forward, the usual estimate)
};

// Calls `on_epoch(epoch, mean_loss)` after every epoch if given.
Result<TrainReport> train(PrunableNet& model, const Dataset& data, const TrainConfig& config,
                          const std::function<void(int64_t, double)>& on_epoch = {});

}  // namespace fp
