// How a model is trained (optimizer, schedule, batches): plain settings, no LibTorch,
// so configuration readers compile without it. The trainer is train/trainer.h.
#pragma once

#include <cstdint>
#include <string>

namespace fp {

// The most epochs a configuration may ask for: a typo of many digits trained for ever.
inline constexpr int64_t kMaxEpochs = 10000;

// The largest learning rate a configuration may ask for: past it every optimizer here
// diverges, and a typo of many digits (1e308) trained a whole run before saying so.
inline constexpr double kMaxLearningRate = 10.0;

// "" when `rate` is a usable learning rate, else why not ("must be in (0, 10], got 1e+308").
std::string learning_rate_problem(double rate);

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

}  // namespace fp
