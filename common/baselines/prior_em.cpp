#include "baselines/prior_em.h"

#include <cmath>

#include "train/evaluator.h"

namespace fp {

Result<PriorEmResult> estimate_class_priors(const torch::Tensor& probabilities,
                                            const PriorEmConfig& config) {
  if (!probabilities.defined() || probabilities.dim() != 2 || probabilities.size(0) == 0)
    return Status::invalid_argument("prior EM: probabilities must be a non-empty [N, C] tensor");
  const int64_t classes = probabilities.size(1);
  torch::Tensor p0;
  if (config.training_priors.empty()) {
    p0 = torch::full({classes}, 1.0 / static_cast<double>(classes), torch::kDouble);
  } else {
    if (static_cast<int64_t>(config.training_priors.size()) != classes)
      return Status::invalid_argument("prior EM: training_priors has " +
                                      std::to_string(config.training_priors.size()) +
                                      " entries for " + std::to_string(classes) + " classes");
    p0 = torch::tensor(config.training_priors, torch::kDouble);
    if ((p0 <= 0).any().item<bool>())
      return Status::invalid_argument("prior EM: training_priors must be positive");
    p0 = p0 / p0.sum();
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor p = probabilities.to(torch::kDouble);
  PriorEmResult r;
  r.samples = p.size(0);
  torch::Tensor prior = p0.clone();
  for (r.iterations = 1; r.iterations <= config.max_iterations; ++r.iterations) {
    torch::Tensor adjusted = p * (prior / p0).view({1, -1});
    adjusted = adjusted / adjusted.sum(1, true).clamp_min(1e-300);
    torch::Tensor next = adjusted.mean(0);
    const double moved = (next - prior).abs().max().item<double>();
    prior = next;
    if (moved < config.tolerance) {
      r.converged = true;
      break;
    }
  }
  r.iterations = std::min(r.iterations, config.max_iterations);
  auto acc = prior.contiguous();
  r.priors.assign(acc.data_ptr<double>(), acc.data_ptr<double>() + classes);
  return r;
}

Result<PriorEmResult> adapt_class_priors(PrunableNet& model, const torch::Tensor& unlabeled_inputs,
                                         const PriorEmConfig& config) {
  if (!unlabeled_inputs.defined() || unlabeled_inputs.size(0) == 0)
    return Status::invalid_argument("prior EM: no adaptation data");
  PrunableLayer out = model.layers().back();
  if (!out->bias().defined())
    return Status::invalid_argument("prior EM: the output layer has no bias to shift");
  torch::Tensor probs = predict_proba(model, unlabeled_inputs, config.batch_size);
  FP_ASSIGN_OR_RETURN(PriorEmResult r, estimate_class_priors(probs, config));
  std::vector<double> p0 = config.training_priors;
  if (p0.empty()) p0.assign(r.priors.size(), 1.0 / static_cast<double>(r.priors.size()));
  double p0_sum = 0;
  for (double x : p0) p0_sum += x;
  std::vector<float> shift(r.priors.size());
  for (size_t c = 0; c < shift.size(); ++c)
    shift[c] = static_cast<float>(std::log(std::max(r.priors[c], config.min_prior)) -
                                  std::log(p0[c] / p0_sum));
  torch::NoGradGuard no_grad;
  out->bias().add_(torch::tensor(shift, out->bias().options()));
  return r;
}

}  // namespace fp
