// Label-free competitors that touch only BatchNorm:
//  - AdaBN (Li et al. 2016): every BatchNorm's running mean and variance re-estimated on
//    the individual's unlabeled data. No backprop; nothing else changes.
//  - Tent (Wang et al., ICLR 2021): entropy minimisation of the model's predictions on
//    the unlabeled data, updating only the BatchNorm affine parameters (scale, shift),
//    with batch statistics in the forward pass. Backprop, no labels. The shipped model
//    then gets its running statistics re-estimated (AdaBN) under the adapted affine.
// A model without BatchNorm is returned unchanged (batch_norms = 0).
#pragma once

#include "baselines/baseline_config.h"
#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

// Every BatchNorm module of the model (1d and 2d), in registration order.
std::vector<std::shared_ptr<torch::nn::Module>> batch_norm_modules(PrunableNet& model);

struct AdaBnReport {
  int64_t batch_norms = 0;
  int64_t samples = 0;
  int64_t forward_samples = 0;  // compute: samples through the dense model
};

// Cumulative average over batches of `batch_size` (a trailing batch of one sample is
// merged into the previous one, as BatchNorm cannot normalise a single sample).
Result<AdaBnReport> adapt_batch_norm(PrunableNet& model, const torch::Tensor& unlabeled_inputs,
                                     int64_t batch_size = 128);

struct TentReport {
  int64_t batch_norms = 0;
  int64_t affine_parameters = 0;  // the parameters Tent may change
  int64_t steps = 0;
  double entropy_before = 0, entropy_after = 0;  // mean prediction entropy, eval mode
  int64_t forward_samples = 0;                   // forward-only passes (statistics, entropies)
  int64_t backward_samples = 0;                  // forward + backward passes
};

// Mean entropy (nats) of the model's softmax predictions on `inputs`, in eval mode.
double mean_prediction_entropy(PrunableNet& model, const torch::Tensor& inputs,
                               int64_t batch_size = 256);

Result<TentReport> tent_adapt(PrunableNet& model, const torch::Tensor& unlabeled_inputs,
                              const TentConfig& config);

}  // namespace fp
