// Compute cost: multiply-accumulates and parameters of a model, dense, and as the
// compact model (models/compact.h) that removes its pruned units really runs.
#pragma once

#include "models/prunable_net.h"

namespace fp {

struct MacCount {
  int64_t dense = 0;  // every weight of every prunable layer of this model
  // Only weights that can change the output: non-zero, of a live unit, reading a live
  // input (a pruned unit's downstream input columns are credited). Counted on the
  // compact model, so it is honest for chains, residual streams and depthwise convs.
  int64_t effective = 0;
  int64_t compact = 0;  // every weight of the compact model: what it executes densely
};

// Per sample. Runs a forward pass on a zero input to learn spatial sizes, compacts a copy
// of the model and runs it too (the compact count).
MacCount count_macs(PrunableNet& model);

// Per sample, every weight of every prunable layer, at the spatial sizes of the model's
// last forward pass: what that pass executed. No extra pass (count_macs(m).dense after
// any forward on inputs of the model's size). `from_layer`: a pass that started there
// (PrunableNet::forward_layers).
int64_t executed_macs(const PrunableNet& model, size_t from_layer = 0);

// The honest footprint of a (possibly pruned) model, measured on its compact model.
struct ModelCost {
  MacCount macs;
  int64_t dense_parameters = 0, compact_parameters = 0;
  int64_t compact_artifact_bytes = 0;  // the compact model's artifact (models/artifact.h)
  double mac_reduction() const;        // 1 - effective / dense
};
ModelCost measure_cost(PrunableNet& model);

// Median seconds of one eval-mode forward pass on `x` (no grad, the current torch
// thread count): `warmup` untimed passes, then at least `min_reps` timed ones and more
// while under `budget_s` (at most 200).
double median_latency(PrunableNet& model, const torch::Tensor& x, int warmup = 3, int min_reps = 10,
                      double budget_s = 0.5);

}  // namespace fp
