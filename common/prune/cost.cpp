#include "prune/cost.h"

namespace fp {

MacCount count_macs(PrunableNet& model) {
  const auto& s = model.spec();
  const bool was_training = model.is_training();
  model.eval();
  {
    torch::NoGradGuard no_grad;
    model.forward(torch::zeros({1, s.in_channels, s.height, s.width}));  // learns spatial sizes
  }
  model.train(was_training);
  MacCount c;
  for (const auto& layer : model.layers()) {
    c.dense += layer->macs_dense();
    c.effective += layer->macs_effective();
  }
  return c;
}

}  // namespace fp
