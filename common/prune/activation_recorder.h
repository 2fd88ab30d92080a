// One streaming, label-free forward pass that records every prunable unit's
// activation statistics. Labels of the data are never read.
#pragma once

#include <map>
#include <string>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "prune/activation_stats.h"

namespace fp {

using LayerStats = std::map<std::string, ActivationStats>;  // by layer name

// Runs `model` in eval mode without gradients over `inputs` ([N,...]) in batches.
// `with_input_energy` also records each layer's per-input-channel energy.
// `logits` (optional) receives the model's outputs [N, classes] from the same pass,
// so the dense predictions cost nothing extra.
LayerStats record_activations(PrunableNet& model, const torch::Tensor& inputs,
                              int64_t batch_size = 128, bool with_input_energy = false,
                              torch::Tensor* logits = nullptr);

}  // namespace fp
