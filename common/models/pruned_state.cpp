#include "models/pruned_state.h"

#include <fmt/format.h>

namespace fp {

std::string pruned_state(const PrunableNet& model) {
  if (model.spec().is_compact()) return "compact: its pruned units are gone";
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
  if (pruned_units == 0 && pruned_weights == 0) return "";
  std::string out = "masked:";
  if (pruned_units > 0) out += fmt::format(" {} of {} units pruned", pruned_units, units);
  if (pruned_weights > 0)
    out += fmt::format("{} {} of {} weights pruned", pruned_units > 0 ? "," : "", pruned_weights,
                       weights);
  return out;
}

}  // namespace fp
