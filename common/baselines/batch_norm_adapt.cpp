#include "baselines/batch_norm_adapt.h"

#include <ATen/CPUGeneratorImpl.h>

#include "train/evaluator.h"

namespace fp {
namespace {

// [begin, end) row ranges of at most `batch_size`, none of a single row when n >= 2.
std::vector<std::pair<int64_t, int64_t>> batches(int64_t n, int64_t batch_size) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t b = 0; b < n; b += batch_size) out.emplace_back(b, std::min(n, b + batch_size));
  if (out.size() >= 2 && out.back().second - out.back().first == 1) {
    out[out.size() - 2].second = n;
    out.pop_back();
  }
  return out;
}

// Applies `f` to the BatchNorm implementation behind `m` (1d or 2d).
template <typename F>
void with_batch_norm(const std::shared_ptr<torch::nn::Module>& m, F&& f) {
  if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) f(*bn);
  if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm1dImpl>(m)) f(*bn);
}

// BatchNorm modules in training mode (batch statistics), everything else in eval mode.
void batch_statistics_mode(PrunableNet& model,
                           const std::vector<std::shared_ptr<torch::nn::Module>>& bns) {
  model.eval();
  for (const auto& bn : bns) bn->train();
}

}  // namespace

std::vector<std::shared_ptr<torch::nn::Module>> batch_norm_modules(PrunableNet& model) {
  std::vector<std::shared_ptr<torch::nn::Module>> out;
  for (const auto& m : model.modules(/*include_self=*/false)) {
    if (std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m) ||
        std::dynamic_pointer_cast<torch::nn::BatchNorm1dImpl>(m))
      out.push_back(m);
  }
  return out;
}

Result<AdaBnReport> adapt_batch_norm(PrunableNet& model, const torch::Tensor& inputs,
                                     int64_t batch_size) {
  if (!inputs.defined() || inputs.size(0) < 2)
    return Status::invalid_argument("AdaBN: needs at least 2 unlabeled samples");
  if (batch_size < 2) return Status::invalid_argument("AdaBN: batch_size must be at least 2");
  AdaBnReport r;
  auto bns = batch_norm_modules(model);
  r.batch_norms = static_cast<int64_t>(bns.size());
  r.samples = inputs.size(0);
  if (bns.empty()) return r;
  std::vector<c10::optional<double>> momentum;
  for (const auto& m : bns) {
    with_batch_norm(m, [&](auto& bn) {
      momentum.push_back(bn.options.momentum());
      bn.options.momentum(c10::nullopt);  // cumulative average over the batches
      bn.reset_running_stats();
    });
  }
  {
    torch::NoGradGuard no_grad;
    batch_statistics_mode(model, bns);
    for (auto [b, e] : batches(inputs.size(0), batch_size)) model.forward(inputs.slice(0, b, e));
  }
  size_t i = 0;
  for (const auto& m : bns)
    with_batch_norm(m, [&](auto& bn) { bn.options.momentum(momentum[i++]); });
  model.eval();
  r.forward_samples = inputs.size(0);
  return r;
}

double mean_prediction_entropy(PrunableNet& model, const torch::Tensor& inputs,
                               int64_t batch_size) {
  torch::Tensor p = predict_proba(model, inputs, batch_size).to(torch::kDouble);
  return -(p * p.clamp_min(1e-300).log()).sum(1).mean().item<double>();
}

Result<TentReport> tent_adapt(PrunableNet& model, const torch::Tensor& inputs,
                              const TentConfig& config) {
  if (!inputs.defined() || inputs.size(0) < 2)
    return Status::invalid_argument("Tent: needs at least 2 unlabeled samples");
  if (config.batch_size < 2 || config.epochs < 0 || !(config.learning_rate > 0))
    return Status::invalid_argument("Tent: batch_size >= 2, epochs >= 0, learning_rate > 0");
  TentReport r;
  const int64_t n = inputs.size(0);
  r.entropy_before = mean_prediction_entropy(model, inputs);
  r.forward_samples += n;
  auto bns = batch_norm_modules(model);
  r.batch_norms = static_cast<int64_t>(bns.size());
  if (bns.empty()) {
    r.entropy_after = r.entropy_before;
    return r;
  }
  std::vector<torch::Tensor> affine;
  for (const auto& m : bns) {
    with_batch_norm(m, [&](auto& bn) {
      if (bn.weight.defined()) affine.push_back(bn.weight);
      if (bn.bias.defined()) affine.push_back(bn.bias);
    });
  }
  for (const auto& p : affine) r.affine_parameters += p.numel();
  std::vector<std::pair<torch::Tensor, bool>> saved;
  for (auto& p : model.parameters()) saved.emplace_back(p, p.requires_grad());
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  for (auto& p : affine) p.set_requires_grad(true);

  torch::optim::Adam opt(affine, torch::optim::AdamOptions(config.learning_rate));
  auto gen = at::detail::createCPUGenerator(config.seed);
  batch_statistics_mode(model, bns);
  for (int64_t epoch = 0; epoch < config.epochs; ++epoch) {
    auto order = torch::randperm(n, gen, torch::kLong);
    for (auto [b, e] : batches(n, config.batch_size)) {
      auto logits = model.forward(inputs.index_select(0, order.slice(0, b, e)));
      auto logp = torch::log_softmax(logits, 1);
      auto entropy = -(logp.exp() * logp).sum(1).mean();
      opt.zero_grad();
      entropy.backward();
      opt.step();
      ++r.steps;
      r.backward_samples += e - b;
    }
  }
  for (auto& [p, flag] : saved) p.set_requires_grad(flag);
  model.eval();
  // The shipped model normalises with running statistics: re-estimate them under the
  // adapted affine parameters.
  FP_ASSIGN_OR_RETURN(AdaBnReport ada, adapt_batch_norm(model, inputs, config.batch_size));
  r.forward_samples += ada.forward_samples;
  r.entropy_after = mean_prediction_entropy(model, inputs);
  r.forward_samples += n;
  return r;
}

}  // namespace fp
