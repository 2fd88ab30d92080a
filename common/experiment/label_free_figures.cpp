#include "experiment/label_free_figures.h"

#include <torch/torch.h>

namespace fp {

LabelFreeFigures label_free_figures(const torch::Tensor& general_proba,
                                    const torch::Tensor& personalized_proba) {
  LabelFreeFigures f;
  if (!general_proba.defined() || general_proba.size(0) == 0) return f;
  auto [p_before, c_before] = general_proba.max(1);
  auto [p_after, c_after] = personalized_proba.max(1);
  f.confidence_before = p_before.to(torch::kDouble).mean().item<double>();
  f.confidence_after = p_after.to(torch::kDouble).mean().item<double>();
  f.agreement = c_before.eq(c_after).to(torch::kDouble).mean().item<double>();
  return f;
}

}  // namespace fp
