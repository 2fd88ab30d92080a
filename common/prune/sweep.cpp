#include "prune/sweep.h"

#include <chrono>

#include "models/model_factory.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "train/evaluator.h"

namespace fp {

Result<std::vector<SweepPoint>> sparsity_sweep(const PrunableNet& dense, const LayerStats& stats,
                                               const Dataset& evaluation, PruneConfig config,
                                               const std::vector<double>& targets) {
  std::vector<SweepPoint> points;
  ModelPtr model = clone_model(dense);
  const MaskState dense_masks = snapshot_masks(dense);
  for (double target : targets) {
    config.target_sparsity = target;
    restore_masks(*model, dense_masks);
    const auto start = std::chrono::steady_clock::now();
    FP_RETURN_IF_ERROR(prune_with_stats(*model, stats, config));
    SweepPoint p;
    p.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    p.target = target;
    p.sparsity = measure_sparsity(*model).sparsity();
    FP_ASSIGN_OR_RETURN(EvalReport eval, evaluate(*model, evaluation));
    p.accuracy = eval.accuracy;
    p.macs = count_macs(*model).effective;
    points.push_back(p);
  }
  return points;
}

}  // namespace fp
