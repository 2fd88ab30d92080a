// What a device can say about its Fine-Pruned model without labels, from the general and
// the Fine-Pruned model's softmax over its held-out inputs: aggregates only, never per
// sample. personalize() computes them from the passes that also score the models.
#pragma once

#include <torch/types.h>

namespace fp {

struct LabelFreeFigures {
  double confidence_before = 0;  // the general model's mean top-class probability
  double confidence_after = 0;   // the Fine-Pruned model's
  double agreement = 0;          // share of inputs both assign the same class
};

// From two [N, classes] softmax tensors over the same N inputs (N = 0: all zero).
LabelFreeFigures label_free_figures(const torch::Tensor& general_proba,
                                    const torch::Tensor& personalized_proba);

}  // namespace fp
