// The coordinator's side of the calibrated shift detector (prune/shift_detector.h): how
// far the general model spreads its softmax over data of k of its own classes, measured
// on labeled general data before the model is shipped. The device reads the resulting
// curve from the model's metadata; it never needs labels or general data itself.
// Torch-free: it works on the model's softmax rows (train/evaluator.h's
// measure_spread_curve runs the model and calls it).
#pragma once

#include <cstdint>
#include <vector>

#include "util/status.h"

namespace fp {

struct SpreadCurveConfig {
  int64_t samples = 100;  // per draw, split evenly over its classes: an individual's data
  int64_t draws = 20;     // random class subsets per class count
  uint64_t seed = 0;
};

// curve[k - 1], k = 1..classes: the median class_spread of the mean of `samples` rows of
// `proba` (row-major, one softmax row of `classes` numbers per sample) drawn from k random
// classes by `labels`, over `draws` draws. Every class must have a sample (an error names
// the first that has none).
Result<std::vector<double>> spread_curve(const std::vector<double>& proba,
                                         const std::vector<int64_t>& labels, int64_t classes,
                                         const SpreadCurveConfig& config = {});

}  // namespace fp
