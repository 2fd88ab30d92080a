#include "experiment/personalize.h"

#include <chrono>

#include "baselines/svd.h"
#include "models/model_factory.h"
#include "prune/cost.h"
#include "train/evaluator.h"

namespace fp {
namespace {

using Clock = std::chrono::steady_clock;

// The first `limit` samples (all when limit is 0 or covers them).
Dataset first_samples(const Dataset& data, int64_t limit) {
  if (limit <= 0 || limit >= data.size()) return data;
  std::vector<int64_t> first(static_cast<size_t>(limit));
  for (int64_t i = 0; i < limit; ++i) first[static_cast<size_t>(i)] = i;
  return data.select(first);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Accuracy only where the evaluation set has labels (a device without labels has none).
Result<MethodResult> describe(const std::string& method, PrunableNet& model,
                              const Dataset& evaluation) {
  MethodResult m;
  if (evaluation.has_labels()) {
    FP_ASSIGN_OR_RETURN(EvalReport eval, evaluate(model, evaluation));
    m.accuracy = eval.accuracy;
  }
  auto sparsity = measure_sparsity(model);
  m.method = method;
  m.sparsity = sparsity.sparsity();
  m.parameters = sparsity.prunable_weights - sparsity.zeroed_weights;
  m.macs_per_sample = count_macs(model).effective;
  return m;
}

// Record, choose the sparsity (label-free), prune: the device's whole Fine-Pruning step.
Status run_fine_prune(PrunableNet& model, const torch::Tensor& inputs,
                      const PersonalizeConfig& config, PersonalizeResult& out) {
  const auto start = Clock::now();
  const int64_t dense_macs = count_macs(model).dense;
  const bool with_inputs = config.prune.criterion == Criterion::kActivationWeightedMagnitude;
  torch::Tensor logits;
  LayerStats stats = record_activations(model, inputs, config.prune.batch_size, with_inputs,
                                        config.select_sparsity ? &logits : nullptr);
  int64_t forward_samples = inputs.size(0);
  PruneConfig prune = config.prune;
  if (config.select_sparsity) {
    // The held-out part is the tail of the recorded inputs: its dense logits are known.
    const int64_t n = inputs.size(0);
    const int64_t held = std::max<int64_t>(1, std::llround(config.heldout_fraction * n));
    FP_ASSIGN_OR_RETURN(out.selection,
                        select_sparsity(model, stats, inputs.slice(0, n - held),
                                        logits.slice(0, n - held), prune, config.selector));
    prune.target_sparsity = out.selection.chosen;
    forward_samples += out.selection.forward_samples;
  }
  if (prune.schedule == Schedule::kIterative) {
    FP_ASSIGN_OR_RETURN(out.sparsity, fine_prune(model, inputs, prune));
    forward_samples += inputs.size(0) * prune.iterative_steps;
  } else {
    FP_RETURN_IF_ERROR(prune_with_stats(model, stats, prune));
    out.sparsity = measure_sparsity(model);
  }
  out.fine_prune.wall_seconds = seconds_since(start);
  out.fine_prune.compute_macs = dense_macs * forward_samples;
  return Status::ok_status();
}

}  // namespace

Result<PersonalizeResult> personalize(const PrunableNet& general, const Dataset& all_adaptation,
                                      const Dataset& evaluation, const PersonalizeConfig& config) {
  FP_RETURN_IF_ERROR(config.prune.validate());
  if (config.max_adaptation_samples < 0)
    return Status::invalid_argument("personalize: max_adaptation_samples must be >= 0");
  const Dataset adaptation = first_samples(all_adaptation, config.max_adaptation_samples);
  if (adaptation.size() == 0) return Status::invalid_argument("personalize: no adaptation data");
  if (evaluation.size() == 0)
    return Status::invalid_argument("personalize: the evaluation (held-out) set is empty");
  if (!evaluation.has_labels() && (config.run_finetune || !config.sweep_targets.empty()))
    return Status::invalid_argument(
        "personalize: the fine-tuning baseline and the sparsity sweep need evaluation labels");
  if (!(config.heldout_fraction > 0 && config.heldout_fraction < 1))
    return Status::invalid_argument("personalize: heldout_fraction must be in (0, 1)");

  PersonalizeResult out;
  out.adaptation_samples = adaptation.size();
  out.evaluation_samples = evaluation.size();
  out.evaluated = evaluation.has_labels();

  ModelPtr dense = clone_model(general);
  FP_ASSIGN_OR_RETURN(MethodResult general_result, describe("general", *dense, evaluation));
  out.general = general_result;

  // Fine-Pruning: the unlabeled inputs only.
  ModelPtr pruned = clone_model(general);
  FP_RETURN_IF_ERROR(run_fine_prune(*pruned, adaptation.inputs, config, out));
  {
    auto cost = out.fine_prune;
    FP_ASSIGN_OR_RETURN(out.fine_prune, describe("fine_prune", *pruned, evaluation));
    out.fine_prune.wall_seconds = cost.wall_seconds;
    out.fine_prune.compute_macs = cost.compute_macs;
  }
  out.personalized = pruned;

  if (!config.sweep_targets.empty()) {
    LayerStats stats =
        record_activations(*dense, adaptation.inputs, config.prune.batch_size,
                           config.prune.criterion == Criterion::kActivationWeightedMagnitude);
    FP_ASSIGN_OR_RETURN(
        out.sweep, sparsity_sweep(*dense, stats, evaluation, config.prune, config.sweep_targets));
    for (const auto& p : out.sweep)
      if (p.accuracy > out.oracle_accuracy) {
        out.oracle_accuracy = p.accuracy;
        out.oracle_sparsity = p.target;
      }
  }

  if (config.run_finetune) {
    if (!adaptation.has_labels())
      return Status::invalid_argument("personalize: fine-tuning baseline needs adaptation labels");
    ModelPtr tuned = clone_model(general);
    FP_ASSIGN_OR_RETURN(TrainReport report, finetune(*tuned, adaptation, config.finetune));
    FP_ASSIGN_OR_RETURN(out.finetune, describe("finetune", *tuned, evaluation));
    out.finetune.wall_seconds = report.wall_seconds;
    out.finetune.compute_macs = report.macs;
  }

  if (config.run_svd) {
    ModelPtr low_rank = clone_model(general);
    const auto start = Clock::now();
    FP_ASSIGN_OR_RETURN(SvdReport report,
                        svd_compress(*low_rank, std::max<int64_t>(1, out.fine_prune.parameters)));
    const double wall = seconds_since(start);
    FP_ASSIGN_OR_RETURN(out.svd, describe("svd", *low_rank, evaluation));
    out.svd.parameters = report.parameters;
    out.svd.sparsity = 1.0 - static_cast<double>(report.parameters) / report.dense_parameters;
    out.svd.wall_seconds = wall;
    out.svd.compute_macs = 0;  // SVD costs no forward passes (its FLOPs are not MACs of the net)
  }
  return out;
}

}  // namespace fp
