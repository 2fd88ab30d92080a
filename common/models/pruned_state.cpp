#include "models/pruned_state.h"

#include <fmt/format.h>

namespace fp {

PrunedState measure_pruned_state(const PrunableNet& model) {
  PrunedState out;
  out.compact = model.spec().is_compact();
  if (out.compact) return out;
  torch::NoGradGuard no_grad;
  int64_t units = 0, pruned_units = 0, weights = 0, pruned_weights = 0;
  for (const PrunableLayer& layer : model.layers()) {
    units += layer->num_units();
    pruned_units += layer->num_units() - layer->num_active_units();
    weights += layer->num_weights();
    // Counted in place: comparing with 0 made a bool tensor of every layer's weights.
    const torch::Tensor& mask = layer->weight_mask();
    pruned_weights += mask.numel() - mask.count_nonzero().item<int64_t>();
  }
  if (pruned_units > 0) out.masked = fmt::format("{} of {} units pruned", pruned_units, units);
  if (pruned_weights > 0)
    out.masked += fmt::format("{}{} of {} weights pruned", pruned_units > 0 ? ", " : "",
                              pruned_weights, weights);
  return out;
}

std::string pruned_state(const PrunableNet& model) {
  const PrunedState state = measure_pruned_state(model);
  if (state.compact) return "compact: its pruned units are gone";
  return state.masked.empty() ? "" : "masked: " + state.masked;
}

}  // namespace fp
