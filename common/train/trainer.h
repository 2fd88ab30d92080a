// Supervised training of the general model (and of the backprop baseline).
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "train/train_config.h"
#include "util/status.h"

namespace fp {

struct TrainReport {
  double final_loss = 0;
  double wall_seconds = 0;
  int64_t samples_seen = 0;
  int64_t macs = 0;  // forward + backward multiply-accumulates (3x forward, the usual estimate)
};

// Calls `on_epoch(epoch, mean_loss)` after every epoch if given. `stop` (optional) is
// read before every batch: once true, training ends there with Cancelled (a Ctrl-C need
// not wait for the epochs left; the model is then half trained and meant to be dropped).
Result<TrainReport> train(PrunableNet& model, const Dataset& data, const TrainConfig& config,
                          const std::function<void(int64_t, double)>& on_epoch = {},
                          const std::atomic<bool>* stop = nullptr);

}  // namespace fp
