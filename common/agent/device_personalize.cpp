#include "agent/device_personalize.h"

#include <spdlog/spdlog.h>

#include "models/model_factory.h"
#include "prune/shift_detector.h"
#include "train/evaluator.h"

namespace fp::agent {

Result<PersonalizeResult> personalize_on_device(const PrunableNet& general,
                                                const ArtifactInfo& general_info,
                                                const Dataset& adaptation,
                                                const Dataset& evaluation,
                                                PersonalizeConfig& config, const std::string& what,
                                                const torch::Tensor& label_free_inputs) {
  FP_RETURN_IF_ERROR(resolve_spread_threshold(general_info.meta, config.prune));
  if (config.prune.class_spread_threshold == 0 &&
      config.prune.class_spread_share == PruneConfig::kAutoClassSpreadShare) {
    // Not named by general_info.sha256: that is the artifact's own check, not the file's
    // SHA-256 the coordinator and `fp-agent info` name models by.
    spdlog::info(
        "{}: the general model carries no {}: pruned without the shift detector (fp-coordinator "
        "train ships one)",
        what, kSpreadCurveMetaKey);
  }
  if (!evaluation.has_labels()) {
    if (config.run_finetune || config.run_svd || !config.sweep_targets.empty() ||
        !config.extra_methods.empty()) {
      spdlog::info("no labels on this device: only Fine-Pruning runs (no baselines, no sweep)");
    }
    config.run_finetune = config.run_svd = false;
    config.sweep_targets.clear();
    config.extra_methods.clear();
  }
  FP_ASSIGN_OR_RETURN(PersonalizeResult r, personalize(general, adaptation, evaluation, config));
  if (label_free_inputs.defined() && label_free_inputs.size(0) > evaluation.size()) {
    // Labels for some held-out files only: the accuracy is theirs, the label-free figures
    // need none and are measured on all (they were on the labeled ones alone).
    ModelPtr dense = clone_model(general);
    r.label_free = label_free_figures(predict_proba(*dense, label_free_inputs),
                                      predict_proba(*r.personalized, label_free_inputs));
    r.label_free_samples = label_free_inputs.size(0);
  }
  spdlog::info(
      "{}: Fine-Pruned on {} of {} adaptation samples (statistics_samples {}; the last {} "
      "scored the candidates): sparsity {:.1f}%",
      what, r.fine_prune_samples, r.adaptation_samples, config.statistics_samples,
      r.heldout_samples, 100 * r.sparsity.sparsity());
  return r;
}

}  // namespace fp::agent
