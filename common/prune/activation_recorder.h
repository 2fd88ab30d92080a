// One streaming, label-free forward pass that records every prunable unit's
// activation statistics. Labels of the data are never read.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "prune/activation_stats.h"

namespace fp {

using LayerStats = std::map<std::string, ActivationStats>;  // by layer name

// What each segment of a model (PrunableNet::segment_starts) reads on the last samples of
// a recording pass, kept by that pass, so that a pass over those samples can start at any
// kept segment: the sparsity selector's held-out tail.
struct TailInputs {
  int64_t from = 0;  // the samples [from, N)
  // The later segments' inputs are kept first, as long as all kept stay within this.
  int64_t budget_bytes = int64_t{32} << 20;
  // Out: per layer, [N - from, ...], what the segment starting there reads; undefined for
  // other layers and where not kept (the first segment's never is: it reads the samples
  // themselves). Empty for models without segments.
  std::vector<torch::Tensor> layer_inputs;
};

// Runs `model` in eval mode without gradients over `inputs` ([N,...]) in batches.
// `with_input_energy` also records each layer's per-input-channel energy.
// `logits` (optional) receives the model's outputs [N, classes] from the same pass,
// so the dense predictions cost nothing extra; `tail` (optional) likewise.
LayerStats record_activations(PrunableNet& model, const torch::Tensor& inputs,
                              int64_t batch_size = 128, bool with_input_energy = false,
                              torch::Tensor* logits = nullptr, TailInputs* tail = nullptr);

}  // namespace fp
