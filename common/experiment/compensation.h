// Label-free, backprop-free repairs of a pruned model (issue 16's "hidden units,
// isolated" experiments): a pruned unit's output is zero, which shifts the mean input of
// every layer that read it. compensate_pruned_means() folds the unit's mean activation,
// recorded on the dense model, into the reading layer: its bias, or (before BatchNorm)
// its running mean. The readers are found from the data, not the architecture: an
// input channel that is exactly zero on every sample of the pruned model but not of the
// dense one was fed by pruned units (this follows flattening and pooling; a channel
// mixed by a residual sum is not zero and is left alone). Convolutions fold the sum of
// each kernel (border effects of zero padding are ignored).
#pragma once

#include "models/prunable_net.h"
#include "prune/activation_recorder.h"
#include "util/status.h"

namespace fp {

struct CompensationReport {
  int64_t layers_adjusted = 0;
  int64_t channels_folded = 0;  // input channels found zeroed by pruning
  int64_t forward_samples = 0;  // one pass over the inputs with the pruned model
};

// `dense_stats` must have been recorded with input statistics (with_input_energy).
Result<CompensationReport> compensate_pruned_means(PrunableNet& pruned,
                                                   const LayerStats& dense_stats,
                                                   const torch::Tensor& unlabeled_inputs,
                                                   int64_t batch_size = 128);

}  // namespace fp
