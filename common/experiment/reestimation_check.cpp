#include "experiment/reestimation_check.h"

#include <torch/torch.h>

#include "baselines/batch_norm_adapt.h"
#include "experiment/label_free_figures.h"
#include "models/model_factory.h"
#include "prune/shift_detector.h"
#include "train/evaluator.h"

namespace fp {
namespace {

double spread_of(const torch::Tensor& proba) {
  const torch::Tensor mean = proba.mean(0).to(torch::kDouble).contiguous();
  return class_spread(
      std::vector<double>(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel()));
}

}  // namespace

Result<ReestimationCheck> check_reestimation(const PrunableNet& general,
                                             const torch::Tensor& inputs,
                                             const torch::Tensor& general_proba,
                                             int64_t batch_norm_batch_size) {
  ReestimationCheck check;
  if (inputs.size(0) < 2) return check;  // BatchNorm cannot be re-estimated on one sample
  if (general_proba.size(0) != inputs.size(0))
    return Status::invalid_argument("check_reestimation: " + std::to_string(general_proba.size(0)) +
                                    " general predictions for " + std::to_string(inputs.size(0)) +
                                    " inputs");
  ModelPtr copy = clone_model(general);
  FP_ASSIGN_OR_RETURN(AdaBnReport adapted, adapt_batch_norm(*copy, inputs, batch_norm_batch_size));
  if (adapted.batch_norms == 0) return check;
  const torch::Tensor after = predict_proba(*copy, inputs);
  const LabelFreeFigures figures = label_free_figures(general_proba, after);
  check.ran = true;
  check.agreement = figures.agreement;
  check.confidence_before = figures.confidence_before;
  check.confidence_after = figures.confidence_after;
  check.spread_before = spread_of(general_proba);
  check.spread_after = spread_of(after);
  check.forward_samples = adapted.forward_samples + inputs.size(0);
  return check;
}

}  // namespace fp
