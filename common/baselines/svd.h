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

}  // namespace fp
