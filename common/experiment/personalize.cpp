#include "experiment/personalize.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "baselines/svd.h"
#include "experiment/compensation.h"
#include "experiment/methods.h"
#include "models/model_factory.h"
#include "prune/cost.h"
#include "prune/shift_detector.h"
#include "train/evaluator.h"
#include "util/clock.h"

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

// Accuracy only where the evaluation set has labels (a device without labels has none).
// With `proba`, the model's softmax over the evaluation inputs too, from the same pass.
Result<MethodResult> describe(const std::string& method, PrunableNet& model,
                              const Dataset& evaluation, torch::Tensor* proba = nullptr) {
  MethodResult m;
  if (evaluation.has_labels() || proba) {
    torch::Tensor p = predict_proba(model, evaluation.inputs);
    if (evaluation.has_labels()) {
      FP_ASSIGN_OR_RETURN(EvalReport eval, evaluate_proba(p, evaluation));
      m.accuracy = eval.accuracy;
    }
    if (proba) *proba = p;
  }
  auto sparsity = measure_sparsity(model);
  m.method = method;
  m.sparsity = sparsity.sparsity();
  m.parameters = sparsity.prunable_weights - sparsity.zeroed_weights;
  const ModelCost cost = measure_cost(model);
  m.macs_per_sample = cost.macs.effective;
  m.compact_parameters = cost.compact_parameters;
  m.compact_bytes = cost.compact_artifact_bytes;
  return m;
}

// Evaluates `model` as `method`, keeping the cost measured while producing it.
Result<MethodResult> finish(const std::string& method, PrunableNet& model,
                            const Dataset& evaluation, double wall, int64_t compute_macs) {
  FP_ASSIGN_OR_RETURN(MethodResult m, describe(method, model, evaluation));
  m.wall_seconds = wall;
  m.compute_macs = compute_macs;
  return m;
}

// Record, choose the sparsity (label-free), prune, and the optional compensations: the
// device's whole Fine-Pruning step, on `chosen` (fine_prune_inputs).
Status run_fine_prune(PrunableNet& model, const FinePruneInputs& chosen,
                      const PersonalizeConfig& config, PersonalizeResult& out) {
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_seconds();
  const bool with_inputs = config.prune.criterion == Criterion::kActivationWeightedMagnitude ||
                           config.prune.compensate_bias;
  torch::Tensor logits;
  // The held-out part is the tail of the recorded inputs: its dense logits, and what each
  // segment of the model read on it (TailInputs), come from the recording.
  const torch::Tensor& inputs = chosen.inputs;
  const int64_t n = inputs.size(0);
  const int64_t held = chosen.heldout;
  TailInputs heldout_inputs;
  heldout_inputs.from = n - held;
  LayerStats stats =
      record_activations(model, inputs, config.prune.batch_size, with_inputs,
                         config.select_sparsity ? &logits : nullptr,
                         config.select_sparsity && n - held >= 0 ? &heldout_inputs : nullptr);
  const int64_t dense_macs = executed_macs(model);  // per sample, as the recording ran it
  out.record_seconds = seconds_since(start);
  int64_t forward_samples = inputs.size(0);
  int64_t selection_macs = 0;  // the candidates ran as compact models: their own MACs
  PruneConfig prune = config.prune;
  if (prune.class_spread_share > 0 && !(prune.class_spread_threshold > 0)) {
    return Status::invalid_argument(
        "personalize: class_spread_share is set but no threshold was resolved from the model's "
        "calibration (resolve_spread_threshold, prune/shift_detector.h)");
  }
  if (prune.class_spread_threshold > 0) {
    // The recorded output statistics are the general model's mean softmax per class.
    auto usage = stats.find(model.layer_names().back());
    if (usage == stats.end() || usage->second.count == 0)
      return Status::invalid_argument("personalize: no output statistics to tell the shift from");
    const torch::Tensor mean = usage->second.mean().to(torch::kDouble).contiguous();
    out.class_spread = class_spread(
        std::vector<double>(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel()));
    out.shift = detect_shift(out.class_spread, prune.class_spread_threshold);
    if (out.shift == ShiftKind::kInputs && prune.reestimation_min_confidence_ratio > 0) {
      torch::Tensor general_proba;
      if (logits.defined()) {
        general_proba = torch::softmax(logits, 1);
      } else {
        general_proba = predict_proba(model, inputs);
        forward_samples += inputs.size(0);
      }
      FP_ASSIGN_OR_RETURN(out.reestimation, check_reestimation(model, inputs, general_proba,
                                                               config.batch_norm_batch_size));
      forward_samples += out.reestimation.forward_samples;
      if (out.reestimation.ran &&
          out.reestimation.confidence_ratio() < prune.reestimation_min_confidence_ratio) {
        out.shift = ShiftKind::kClassPrior;  // pruned as configured
        out.shift_overturned = true;
      }
    }
    if (out.shift == ShiftKind::kInputs) {
      prune.prune_output_layer = false;  // every class may be the individual's
      prune.reestimate_batch_norm = true;
    }
  }
  // Output-only pruning of an input-shifted individual: no unit is removed at all.
  const bool prunes = prune.prune_hidden || prune.prune_output_layer;
  if (config.select_sparsity && prunes) {
    const auto selecting = Clock::now();
    FP_ASSIGN_OR_RETURN(
        out.selection,
        select_sparsity(model, stats, inputs.slice(0, n - held), logits.slice(0, n - held), prune,
                        config.selector,
                        /*heldout_recorded=*/true, std::move(heldout_inputs.layer_inputs)));
    out.select_seconds = seconds_since(selecting);
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("sparsity {} chosen; candidates' scores:{}", out.selection.chosen,
                    format_candidate_scores(out.selection));
    }
    prune.target_sparsity = out.selection.chosen;
    selection_macs = out.selection.forward_macs;
  }
  if (!prunes) {
    // Nothing to remove: only the compensations below change the model.
  } else if (prune.schedule == Schedule::kIterative) {
    FP_ASSIGN_OR_RETURN(out.sparsity, fine_prune(model, inputs, prune));
    forward_samples += inputs.size(0) * prune.iterative_steps;
  } else if (config.select_sparsity) {
    restore_masks(model, out.selection.chosen_masks);  // the selector pruned there already
  } else {
    FP_RETURN_IF_ERROR(prune_with_stats(model, stats, prune));
  }
  if (prune.compensate_bias) {
    FP_ASSIGN_OR_RETURN(CompensationReport c,
                        compensate_pruned_means(model, stats, inputs, prune.batch_size));
    forward_samples += c.forward_samples;
  }
  if (prune.reestimate_batch_norm && inputs.size(0) >= 2) {
    FP_ASSIGN_OR_RETURN(AdaBnReport a,
                        adapt_batch_norm(model, inputs, config.batch_norm_batch_size));
    forward_samples += a.forward_samples;
  }
  out.sparsity = measure_sparsity(model);
  out.fine_prune.wall_seconds = seconds_since(start);
  out.fine_prune.cpu_seconds = thread_cpu_seconds() - cpu_start;
  out.fine_prune.compute_macs = dense_macs * forward_samples + selection_macs;
  return Status::ok_status();
}

// A label-free method ("em_prior", "adabn", "tent") applied to `model` in place, from
// the unlabeled inputs only. Returns the multiply-accumulates it spent.
Result<int64_t> apply_label_free(const std::string& method, PrunableNet& model,
                                 const torch::Tensor& inputs, const PersonalizeConfig& config) {
  const int64_t macs = count_macs(model).effective;  // per sample, this model as it is
  if (method == "em_prior") {
    FP_ASSIGN_OR_RETURN(PriorEmResult r, adapt_class_priors(model, inputs, config.prior_em));
    return macs * r.samples;
  }
  if (method == "adabn") {
    FP_ASSIGN_OR_RETURN(AdaBnReport r,
                        adapt_batch_norm(model, inputs, config.batch_norm_batch_size));
    return macs * r.forward_samples;
  }
  if (method == "tent") {
    FP_ASSIGN_OR_RETURN(TentReport r, tent_adapt(model, inputs, config.tent));
    return macs * (r.forward_samples + 3 * r.backward_samples);
  }
  return Status::invalid_argument("personalize: '" + method + "' is not a label-free method");
}

// SVD at `budget` (Fine-Pruning's parameters or MACs), classifier as Fine-Pruning left it.
Result<MethodResult> run_svd(const std::string& method, const PrunableNet& general,
                             const PrunableNet& pruned, SvdBudget budget, int64_t target,
                             const Dataset& evaluation, const PersonalizeConfig& config) {
  ModelPtr low_rank = clone_model(general);
  const auto start = Clock::now();
  SvdConfig svd;
  svd.budget = budget;
  svd.target = std::max<int64_t>(1, target);
  svd.truncate_output_layer = !config.svd_like_fine_prune;
  if (config.svd_like_fine_prune) {
    torch::NoGradGuard no_grad;
    low_rank->layers().back()->unit_mask().copy_(pruned.layers().back()->unit_mask());
  }
  FP_ASSIGN_OR_RETURN(SvdEnergyReport report, svd_compress_by_energy(*low_rank, svd));
  // SVD costs no forward passes (its FLOPs are not MACs of the net): compute_macs 0.
  FP_ASSIGN_OR_RETURN(MethodResult m,
                      finish(method, *low_rank, evaluation, seconds_since(start), 0));
  m.parameters = report.parameters;
  m.macs_per_sample = report.macs;
  m.sparsity = report.dense_parameters > 0
                   ? 1.0 - static_cast<double>(report.parameters) / report.dense_parameters
                   : 0.0;
  return m;
}

// The fine-tuning baseline's outcome, for the device's log: a table where it equals the
// general model should say why (nothing trained, or nothing beat it on validation).
void log_finetune_choice(const TunedFinetuneReport& r, int64_t samples,
                         const TunedFinetuneConfig& config) {
  if (r.too_few_samples) {
    spdlog::warn(
        "finetune baseline: {} labeled adaptation sample(s) are too few to hold out a "
        "validation slice ({:g} of them) and train on the rest: nothing was fine-tuned, and the "
        "general model stands in as its result",
        samples, config.validation_fraction);
  } else if (r.kept_general) {
    spdlog::info(
        "finetune baseline: no learning rate of {} trial(s) beat the general model on the "
        "validation slice of {} sample(s) ({:.1f}%): the general model stands in as its result",
        r.trials, r.validation_samples, 100 * r.general_validation_accuracy);
  } else {
    spdlog::debug(
        "finetune baseline: learning rate {:g}, epoch {}, BatchNorm {}: {:.1f}% on the "
        "validation slice (general model {:.1f}%)",
        r.learning_rate, r.best_epoch, r.frozen_batch_norm ? "frozen" : "trained",
        100 * r.validation_accuracy, 100 * r.general_validation_accuracy);
  }
}

}  // namespace

FinePruneInputs fine_prune_inputs(const torch::Tensor& adaptation,
                                  const PersonalizeConfig& config) {
  const int64_t n = adaptation.size(0);
  FinePruneInputs out;
  out.heldout =
      std::min<int64_t>(n, std::max<int64_t>(1, std::llround(config.heldout_fraction * n)));
  const int64_t before = n - out.heldout, cap = config.statistics_samples;
  if (cap <= 0 || cap >= before) {
    out.inputs = adaptation;
    return out;
  }
  std::vector<int64_t> rows(static_cast<size_t>(cap + out.heldout));
  for (int64_t i = 0; i < cap; ++i) rows[static_cast<size_t>(i)] = i * before / cap;
  for (int64_t i = 0; i < out.heldout; ++i) rows[static_cast<size_t>(cap + i)] = before + i;
  out.inputs = adaptation.index_select(0, torch::tensor(rows, torch::kLong));
  return out;
}

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
  for (const auto& m : config.extra_methods)
    if (!is_known_method(m))
      return Status::invalid_argument("personalize: unknown method '" + m +
                                      "' (known: " + known_methods_text() + ")");

  PersonalizeResult out;
  out.adaptation_samples = adaptation.size();
  out.evaluation_samples = evaluation.size();
  out.evaluated = evaluation.has_labels();

  ModelPtr dense = clone_model(general);
  torch::Tensor general_proba, pruned_proba;
  FP_ASSIGN_OR_RETURN(MethodResult general_result,
                      describe(kGeneralMethod, *dense, evaluation, &general_proba));
  out.general = general_result;

  // Fine-Pruning: the unlabeled inputs only.
  ModelPtr pruned = clone_model(general);
  const FinePruneInputs fine_prune_on = fine_prune_inputs(adaptation.inputs, config);
  out.fine_prune_samples = fine_prune_on.inputs.size(0);
  out.heldout_samples = fine_prune_on.heldout;
  FP_RETURN_IF_ERROR(run_fine_prune(*pruned, fine_prune_on, config, out));
  {
    auto cost = out.fine_prune;
    FP_ASSIGN_OR_RETURN(out.fine_prune,
                        describe(kFinePruneMethod, *pruned, evaluation, &pruned_proba));
    out.label_free = label_free_figures(general_proba, pruned_proba);
    out.label_free_samples = evaluation.size();
    out.fine_prune.wall_seconds = cost.wall_seconds;
    out.fine_prune.cpu_seconds = cost.cpu_seconds;
    out.fine_prune.compute_macs = cost.compute_macs;
  }
  out.personalized = pruned;

  if (!config.sweep_targets.empty()) {
    // The statistics Fine-Pruning pruned by: the same samples.
    LayerStats stats =
        record_activations(*dense, fine_prune_on.inputs, config.prune.batch_size,
                           config.prune.criterion == Criterion::kActivationWeightedMagnitude);
    FP_ASSIGN_OR_RETURN(
        out.sweep, sparsity_sweep(*dense, stats, evaluation, config.prune, config.sweep_targets));
    for (const auto& p : out.sweep)
      if (p.accuracy > out.oracle_accuracy) {
        out.oracle_accuracy = p.accuracy;
        out.oracle_sparsity = p.target;
      }
  }

  const bool wants_plain = std::count(config.extra_methods.begin(), config.extra_methods.end(),
                                      std::string("finetune_plain")) > 0;
  if ((config.run_finetune || wants_plain) && !adaptation.has_labels())
    return Status::invalid_argument("personalize: fine-tuning baseline needs adaptation labels");
  if (config.run_finetune) {
    ModelPtr tuned = clone_model(general);
    FP_ASSIGN_OR_RETURN(out.finetune_report,
                        tuned_finetune(*tuned, adaptation, config.tuned_finetune));
    log_finetune_choice(out.finetune_report, adaptation.size(), config.tuned_finetune);
    FP_ASSIGN_OR_RETURN(out.finetune,
                        finish("finetune", *tuned, evaluation, out.finetune_report.wall_seconds,
                               out.finetune_report.compute_macs));
  }

  if (config.run_svd) {
    FP_ASSIGN_OR_RETURN(out.svd, run_svd("svd", general, *pruned, SvdBudget::kParameters,
                                         out.fine_prune.parameters, evaluation, config));
  }

  for (const auto& method : config.extra_methods) {
    const auto start = Clock::now();
    if (method == "finetune" || method == "svd") continue;  // run_finetune / run_svd
    if (method == "finetune_plain") {
      ModelPtr tuned = clone_model(general);
      FP_ASSIGN_OR_RETURN(TrainReport report, finetune(*tuned, adaptation, config.finetune));
      FP_ASSIGN_OR_RETURN(MethodResult m,
                          finish(method, *tuned, evaluation, report.wall_seconds, report.macs));
      out.extra.push_back(m);
    } else if (method == "svd_macs") {
      FP_ASSIGN_OR_RETURN(MethodResult m,
                          run_svd(method, general, *pruned, SvdBudget::kMacs,
                                  out.fine_prune.macs_per_sample, evaluation, config));
      out.extra.push_back(m);
    } else if (method.rfind("fine_prune+", 0) == 0) {
      ModelPtr combined = clone_model(*pruned);
      FP_ASSIGN_OR_RETURN(
          int64_t macs, apply_label_free(method.substr(11), *combined, adaptation.inputs, config));
      FP_ASSIGN_OR_RETURN(MethodResult m, finish(method, *combined, evaluation,
                                                 out.fine_prune.wall_seconds + seconds_since(start),
                                                 out.fine_prune.compute_macs + macs));
      out.extra.push_back(m);
    } else {
      ModelPtr adapted = clone_model(general);
      FP_ASSIGN_OR_RETURN(int64_t macs,
                          apply_label_free(method, *adapted, adaptation.inputs, config));
      FP_ASSIGN_OR_RETURN(MethodResult m,
                          finish(method, *adapted, evaluation, seconds_since(start), macs));
      out.extra.push_back(m);
    }
  }
  return out;
}

}  // namespace fp
