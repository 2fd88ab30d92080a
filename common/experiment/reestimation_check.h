// A label-free check of the shift detector's "input shift" verdict on a BatchNorm network
// (issue 16, item 6). When the detector misjudges a class-subset individual (two kinds of
// clothing the general model is unsure of) as input-shifted, re-estimating BatchNorm
// statistics on its two classes normalises away what tells them from the rest and costs
// 20-30 points (docs/RESULTS.md section 4c). The device can see that happen before it
// commits: re-estimate on a copy and compare the copy's predictions on the same unlabeled
// inputs with the general model's. A real input shift (a new speaker) moves some
// predictions; a class subset normalised as if it were the whole domain moves many.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct ReestimationCheck {
  bool ran = false;      // false: not asked for, fewer than 2 inputs, or no BatchNorm
  double agreement = 1;  // share of inputs whose top class re-estimation leaves unchanged
  double confidence_before = 0, confidence_after = 0;  // mean top-class probability
  double spread_before = 0, spread_after = 0;          // class_spread of the mean softmax
  int64_t forward_samples = 0;                         // compute: samples through the dense model

  // What prune.reestimation_min_confidence_ratio is compared with.
  double confidence_ratio() const { return confidence_after / confidence_before; }
};

// Re-estimates BatchNorm statistics of a copy of `general` on `inputs` and compares the
// copy's softmax with `general_proba` (the general model's on the same inputs, one row
// each). A model without BatchNorm is not checked (ran = false). `general` is unchanged.
Result<ReestimationCheck> check_reestimation(const PrunableNet& general,
                                             const torch::Tensor& inputs,
                                             const torch::Tensor& general_proba,
                                             int64_t batch_norm_batch_size);

}  // namespace fp
