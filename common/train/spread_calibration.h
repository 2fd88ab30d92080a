// The coordinator's side of the calibrated shift detector (prune/shift_detector.h): how
// far the general model spreads its softmax over data of k of its own classes, measured
// on labeled general data before the model is shipped. The device reads the resulting
// curve from the model's metadata; it never needs labels or general data itself.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct SpreadCurveConfig {
  int64_t samples = 100;  // per draw, split evenly over its classes: an individual's data
  int64_t draws = 20;     // random class subsets per class count
  uint64_t seed = 0;
};

// curve[k - 1], k = 1..classes: the median class_spread of the model's mean softmax over
// `samples` samples drawn from k random classes of `labeled`, over `draws` draws. Every
// class must appear in `labeled` (an error names the first missing one).
Result<std::vector<double>> measure_spread_curve(PrunableNet& model, const Dataset& labeled,
                                                 const SpreadCurveConfig& config = {});

}  // namespace fp
