#include "prune/sweep.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

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
  RepeatedPruner pruner(stats, config);
  std::vector<double> unreachable;
  for (double target : targets) {
    restore_masks(*model, dense_masks);
    const auto start = std::chrono::steady_clock::now();
    Status pruned = pruner.prune(*model, target);
    if (!pruned.ok() && pruner.last_unreachable()) {  // a point past what the model allows
      unreachable.push_back(target);
      continue;
    }
    FP_RETURN_IF_ERROR(pruned);
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
  if (!unreachable.empty())
    spdlog::warn(
        "sparsity sweep: target(s) {} left out: unreachable with the protected layers "
        "left dense",
        fmt::join(unreachable, ", "));
  return points;
}

}  // namespace fp
