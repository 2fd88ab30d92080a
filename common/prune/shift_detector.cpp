#include "prune/shift_detector.h"

#include <torch/torch.h>

#include <cmath>

namespace fp {

double class_spread(const torch::Tensor& usage) {
  const torch::Tensor u = usage.to(torch::kDouble).flatten().clamp_min(0);
  const int64_t classes = u.numel();
  const double total = u.sum().item<double>();
  if (classes == 0 || !(total > 0)) return 1.0;  // nothing recorded: no evidence of a subset
  const torch::Tensor p = u / total;
  // 0 log 0 = 0: the classes never predicted add nothing to the entropy.
  const double entropy =
      -(p * torch::where(p > 0, p.log(), torch::zeros_like(p))).sum().item<double>();
  return std::exp(entropy) / static_cast<double>(classes);
}

const char* shift_kind_name(ShiftKind kind) {
  return kind == ShiftKind::kInputs ? "inputs" : "class-prior";
}

ShiftKind detect_shift(double spread, double threshold) {
  return spread > threshold ? ShiftKind::kInputs : ShiftKind::kClassPrior;
}

}  // namespace fp
