// Builds any zoo model from its ModelSpec, and deep-copies models.
#pragma once

#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

// Freshly initialised (seed with torch::manual_seed first for reproducibility).
Result<ModelPtr> build_model(const ModelSpec& spec);

// The same with zero weights (models/prunable_layer.h: WeightInitScope), for a caller that
// overwrites every parameter next: it costs no random draws and leaves LibTorch's global
// generator where it was.
Result<ModelPtr> build_model_to_overwrite(const ModelSpec& spec);

// The names of the prunable layers a model of `spec` has, in order (what a campaign's
// protected_layers may name), from a zero-weight build.
Result<std::vector<std::string>> layer_names_of(const ModelSpec& spec);

// Same spec, parameters, buffers and masks; shares no storage with `model`.
ModelPtr clone_model(const PrunableNet& model);

// Copies parameters and buffers (masks included) from `src` into `dst` (same spec).
void copy_state(const PrunableNet& src, PrunableNet& dst);

// Parameter counts: all parameters, and the weights of prunable layers.
int64_t count_parameters(const PrunableNet& model);
int64_t count_prunable_weights(const PrunableNet& model);

}  // namespace fp
