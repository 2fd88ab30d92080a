#include "prune/shift_detector.h"

#include <algorithm>
#include <cmath>

namespace fp {

double class_spread(const std::vector<double>& usage) {
  double total = 0;
  for (double u : usage) total += std::max(u, 0.0);
  if (usage.empty() || !(total > 0)) return 1.0;  // nothing recorded: no evidence of a subset
  double entropy = 0;
  for (double u : usage) {
    const double p = std::max(u, 0.0) / total;
    if (p > 0) entropy -= p * std::log(p);  // 0 log 0 = 0: unpredicted classes add nothing
  }
  return std::exp(entropy) / static_cast<double>(usage.size());
}

const char* shift_kind_name(ShiftKind kind) {
  return kind == ShiftKind::kInputs ? "inputs" : "class-prior";
}

ShiftKind detect_shift(double spread, double threshold) {
  return spread > threshold ? ShiftKind::kInputs : ShiftKind::kClassPrior;
}

}  // namespace fp
