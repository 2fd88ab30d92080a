#include "baselines/tuned_finetune.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>

#include "baselines/batch_norm_adapt.h"
#include "models/model_factory.h"
#include "prune/cost.h"
#include "train/evaluator.h"

namespace fp {
namespace {

struct Trial {
  ModelPtr best;  // the best epoch's weights
  double accuracy = -1;
  int64_t epoch = 0;
};

Result<Trial> run_trial(const PrunableNet& general, const Dataset& train, const Dataset& val,
                        double lr, bool frozen_bn, const TunedFinetuneConfig& c,
                        TunedFinetuneReport& report) {
  ModelPtr model = clone_model(general);
  std::vector<torch::Tensor> params;
  if (c.last_layer_only) {
    for (auto& p : model->parameters()) p.set_requires_grad(false);
    for (auto& p : model->layers().back()->parameters()) p.set_requires_grad(true);
  }
  for (auto& p : model->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(lr));
  auto bns = batch_norm_modules(*model);
  auto gen = at::detail::createCPUGenerator(c.seed);
  const int64_t n = train.size();
  Trial t;
  int64_t since_best = 0;
  for (int64_t epoch = 1; epoch <= c.max_epochs; ++epoch) {
    model->train();
    if (frozen_bn)
      for (auto& bn : bns) bn->eval();
    auto order = torch::randperm(n, gen, torch::kLong);
    for (int64_t b = 0; b < n; b += c.batch_size) {
      auto idx = order.slice(0, b, std::min(n, b + c.batch_size));
      if (idx.numel() < 2) continue;  // BatchNorm in training mode needs two samples
      auto logits = model->forward(train.inputs.index_select(0, idx));
      auto loss = torch::nn::functional::cross_entropy(logits, train.labels.index_select(0, idx));
      opt.zero_grad();
      loss.backward();
      opt.step();
      report.backward_samples += idx.numel();
    }
    model->eval();
    ++report.epochs_run;
    FP_ASSIGN_OR_RETURN(EvalReport eval, evaluate(*model, val));
    report.forward_samples += val.size();
    if (eval.accuracy > t.accuracy) {
      t.accuracy = eval.accuracy;
      t.epoch = epoch;
      t.best = clone_model(*model);
      since_best = 0;
    } else if (++since_best >= c.patience) {
      break;
    }
  }
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  if (t.best)
    for (auto& p : t.best->parameters()) p.set_requires_grad(true);
  return t;
}

}  // namespace

Result<TunedFinetuneReport> tuned_finetune(PrunableNet& model, const Dataset& data,
                                           const TunedFinetuneConfig& c) {
  if (!data.has_labels())
    return Status::invalid_argument("finetune: the adaptation set has no labels");
  if (c.learning_rates.empty() || c.max_epochs < 1 || c.patience < 1 || c.batch_size < 2 ||
      !(c.validation_fraction > 0 && c.validation_fraction < 1))
    return Status::invalid_argument(
        "finetune: needs learning rates, max_epochs >= 1, patience >= 1, batch_size >= 2 and "
        "validation_fraction in (0, 1)");
  for (double lr : c.learning_rates)
    if (!(lr > 0)) return Status::invalid_argument("finetune: learning rates must be positive");
  if (data.size() > 0 && data.labels.max().item<int64_t>() >= model.spec().num_classes)
    return Status::invalid_argument("finetune: a label exceeds the model's num_classes");
  const auto start = std::chrono::steady_clock::now();
  TunedFinetuneReport report;
  const int64_t n = data.size();
  const int64_t n_val = std::llround(c.validation_fraction * static_cast<double>(n));
  if (n_val < 1 || n - n_val < 2) {  // too little data to validate: keep general
    report.too_few_samples = true;
    return report;
  }

  // A seeded split, so the slice does not follow the data's order (grouped by class).
  auto gen = at::detail::createCPUGenerator(c.seed);
  auto perm = torch::randperm(n, gen, torch::kLong).contiguous();
  std::vector<int64_t> order(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
  const Dataset val = data.select({order.begin(), order.begin() + n_val});
  const Dataset train = data.select({order.begin() + n_val, order.end()});
  report.train_samples = train.size();
  report.validation_samples = val.size();

  FP_ASSIGN_OR_RETURN(EvalReport general_eval, evaluate(model, val));
  report.forward_samples += val.size();
  report.general_validation_accuracy = report.validation_accuracy = general_eval.accuracy;

  std::vector<bool> modes;
  if (c.try_training_batch_norm) modes.push_back(false);
  if (c.try_frozen_batch_norm && !batch_norm_modules(model).empty()) modes.push_back(true);
  if (modes.empty()) modes.push_back(false);

  Trial best;
  double best_lr = 0;
  bool best_frozen = false;
  for (double lr : c.learning_rates) {
    for (bool frozen : modes) {
      FP_ASSIGN_OR_RETURN(Trial t, run_trial(model, train, val, lr, frozen, c, report));
      ++report.trials;
      if (t.accuracy > best.accuracy) {
        best = t;
        best_lr = lr;
        best_frozen = frozen;
      }
    }
  }
  // Strictly better on validation, or the general model stays.
  if (best.best && best.accuracy > report.general_validation_accuracy) {
    copy_state(*best.best, model);  // models/model_factory.h
    report.kept_general = false;
    report.learning_rate = best_lr;
    report.frozen_batch_norm = best_frozen;
    report.best_epoch = best.epoch;
    report.validation_accuracy = best.accuracy;
  }
  model.eval();
  report.compute_macs =
      count_macs(model).dense * (3 * report.backward_samples + report.forward_samples);
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace fp
