// Label-free competitor: class-prior re-estimation by EM on the model's unlabeled
// outputs (Saerens, Latinne & Decaestecker, Neural Computation 2002). No backprop.
//
// The general model's posteriors p(y|x) were learned under the training priors p0(y).
// On the individual's data the priors are p(y), unknown; EM alternates
//   p'(y|x) = p(y|x) p(y)/p0(y) / sum_y' p(y'|x) p(y')/p0(y')   and   p(y) = mean_x p'(y|x)
// from p = p0 until the priors stop moving. The adapted model adds log(p(y)/p0(y)) to
// the classifier's bias: softmax of the shifted logits is exactly p'(y|x).
#pragma once

#include <vector>

#include "baselines/baseline_config.h"
#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct PriorEmResult {
  std::vector<double> priors;  // estimated on the individual's data
  int iterations = 0;
  bool converged = false;
  int64_t samples = 0;
};

// From posteriors [N, C] computed under `training_priors` (empty: uniform).
Result<PriorEmResult> estimate_class_priors(const torch::Tensor& probabilities,
                                            const PriorEmConfig& config);

// One forward pass over the unlabeled inputs, EM, then the bias shift on the output
// layer. Pruned classes (probability 0) stay at probability 0.
Result<PriorEmResult> adapt_class_priors(PrunableNet& model, const torch::Tensor& unlabeled_inputs,
                                         const PriorEmConfig& config);

}  // namespace fp
