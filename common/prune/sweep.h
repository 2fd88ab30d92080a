// Sparsity sweep: accuracy against sparsity on an individual's evaluation set,
// from one recording of the dense model's statistics.
#pragma once

#include <vector>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "prune/activation_recorder.h"
#include "prune/prune_config.h"
#include "util/status.h"

namespace fp {

struct SweepPoint {
  double target = 0;        // requested sparsity
  double sparsity = 0;      // measured: zeroed / prunable weights
  double accuracy = 0;      // on the evaluation set
  int64_t macs = 0;         // effective multiply-accumulates per sample
  double wall_seconds = 0;  // pruning (not evaluation) time; the first point's includes the
                            // unit ranking the others reuse (RepeatedPruner)
};

// `stats` from record_activations(dense model); `dense` is not modified. A target past what
// the layers left dense allow is left out (and warned about), not an error.
Result<std::vector<SweepPoint>> sparsity_sweep(const PrunableNet& dense, const LayerStats& stats,
                                               const Dataset& evaluation, PruneConfig config,
                                               const std::vector<double>& targets);

}  // namespace fp
