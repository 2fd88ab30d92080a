#include "prune/cost.h"

#include <algorithm>
#include <chrono>

#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"

namespace fp {
namespace {

// Sums per-layer MACs after one eval-mode forward pass on zeros (spatial sizes).
MacCount layer_macs(PrunableNet& model) {
  const auto& s = model.spec();
  {
    EvalModeScope eval_mode(model);
    torch::NoGradGuard no_grad;
    model.forward(torch::zeros({1, s.in_channels, s.height, s.width}));
  }
  MacCount c;
  for (const auto& layer : model.layers()) {
    c.dense += layer->macs_dense();
    c.effective += layer->macs_effective();
  }
  return c;
}

}  // namespace

int64_t executed_macs(const PrunableNet& model, size_t from_layer) {
  int64_t macs = 0;
  const auto& layers = model.layers();
  for (size_t i = from_layer; i < layers.size(); ++i) macs += layers[i]->macs_dense();
  return macs;
}

MacCount count_macs(PrunableNet& model) {
  MacCount own = layer_macs(model);
  auto compacted = compact(model);
  if (!compacted.ok()) {  // an uncompactable model: its own non-zero weights
    own.compact = own.dense;
    return own;
  }
  const MacCount c = layer_macs(*compacted.value().model);
  return {own.dense, c.effective, c.dense};
}

double ModelCost::mac_reduction() const {
  return macs.dense > 0 ? 1.0 - static_cast<double>(macs.effective) / macs.dense : 0.0;
}

ModelCost measure_cost(PrunableNet& model) {
  ModelCost cost;
  cost.macs.dense = layer_macs(model).dense;
  cost.dense_parameters = count_parameters(model);
  cost.compact_parameters = cost.dense_parameters;
  auto compacted = compact(model);
  if (!compacted.ok()) {
    cost.macs = count_macs(model);
    return cost;
  }
  PrunableNet& c = *compacted.value().model;
  const MacCount cm = layer_macs(c);
  cost.macs.effective = cm.effective;
  cost.macs.compact = cm.dense;
  cost.compact_parameters = count_parameters(c);
  cost.compact_artifact_bytes = static_cast<int64_t>(serialized_size(c));
  return cost;
}

double median_latency(PrunableNet& model, const torch::Tensor& x, int warmup, int min_reps,
                      double budget_s) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  torch::NoGradGuard no_grad;
  EvalModeScope eval_mode(model);
  for (int i = 0; i < warmup; ++i) model.forward(x);
  std::vector<double> times;
  const auto start = Clock::now();
  while (static_cast<int>(times.size()) < std::max(1, min_reps) ||
         (seconds(start) < budget_s && times.size() < 200)) {
    const auto t = Clock::now();
    model.forward(x);
    times.push_back(seconds(t));
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

}  // namespace fp
