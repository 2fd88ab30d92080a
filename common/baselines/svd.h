// Baseline: SVD low-rank truncation of the weight matrices (convolutions reshaped
// to [out, in*k*k]) at a parameter count matched to a pruned model's.
#pragma once

#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct SvdReport {
  double rank_fraction = 1.0;    // kept share of each layer's full rank
  int64_t parameters = 0;        // sum over layers of rank*(rows+cols) (or dense if smaller)
  int64_t dense_parameters = 0;  // prunable weights before truncation
};

// Replaces each prunable layer's weight by its rank-r reconstruction, with one
// rank fraction for all layers chosen so the factorised parameter count is at most
// `target_parameters`. The output layer is truncated like the others.
Result<SvdReport> svd_compress(PrunableNet& model, int64_t target_parameters);

// The fair variant: one share of spectral energy kept, so each layer gets the rank its
// own spectrum needs (a layer whose energy sits in few directions keeps few), chosen by
// bisection as the most energy whose cost fits the budget. The budget is counted in
// parameters, or in multiply-accumulates per sample (each layer's cost times its output
// positions) to compare at equal MACs. A layer is factorised only where that is cheaper
// than dense; at (or above) the dense budget the model is left untouched. The output
// layer is not truncated unless asked: it is treated as Fine-Pruning treats it, which
// is to copy Fine-Pruning's class mask onto it before calling (its cost counts only its
// live weights).
enum class SvdBudget { kParameters, kMacs };

struct SvdConfig {
  SvdBudget budget = SvdBudget::kParameters;
  int64_t target = 0;  // parameters, or MACs per sample
  bool truncate_output_layer = false;
};

struct SvdEnergyReport {
  double energy_kept = 1.0;    // share of each layer's squared singular values kept
  std::vector<int64_t> ranks;  // per layer (-1: left dense)
  int64_t parameters = 0, dense_parameters = 0;  // prunable weights, factorised count
  int64_t macs = 0, dense_macs = 0;              // per sample, factorised count
  bool identity = false;  // the budget allowed the dense model: nothing changed
};

Result<SvdEnergyReport> svd_compress_by_energy(PrunableNet& model, const SvdConfig& config);

}  // namespace fp
