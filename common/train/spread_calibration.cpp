#include "train/spread_calibration.h"

#include <algorithm>
#include <random>
#include <string>

#include "prune/shift_detector.h"

namespace fp {

Result<std::vector<double>> spread_curve(const std::vector<double>& proba,
                                         const std::vector<int64_t>& labels, int64_t classes,
                                         const SpreadCurveConfig& config) {
  if (labels.empty() || classes < 1 ||
      proba.size() != labels.size() * static_cast<size_t>(classes)) {
    return Status::invalid_argument(
        "spread calibration: needs labeled, non-empty data with one softmax row per sample");
  }
  if (config.samples < 1 || config.draws < 1) {
    return Status::invalid_argument("spread calibration: samples and draws must be positive");
  }
  std::vector<std::vector<size_t>> by_class(static_cast<size_t>(classes));
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      return Status::invalid_argument("spread calibration: label " + std::to_string(labels[i]) +
                                      " outside the model's " + std::to_string(classes) +
                                      " classes");
    }
    by_class[labels[i]].push_back(i);
  }
  for (int64_t c = 0; c < classes; ++c) {
    if (by_class[c].empty()) {
      return Status::invalid_argument("spread calibration: no sample of class " +
                                      std::to_string(c) + " in the calibration data");
    }
  }
  std::mt19937_64 rng(config.seed);
  std::vector<int64_t> order(static_cast<size_t>(classes));
  std::vector<double> curve;
  for (int64_t k = 1; k <= classes; ++k) {
    std::vector<double> spreads;
    for (int64_t d = 0; d < config.draws; ++d) {
      for (int64_t c = 0; c < classes; ++c) order[c] = c;
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<double> mean(static_cast<size_t>(classes), 0.0);
      for (int64_t j = 0; j < k; ++j) {
        const auto& pool = by_class[order[j]];
        // An even share of the draw's samples, the remainder to the first classes (with
        // fewer samples than classes, the last classes get none).
        const int64_t want = config.samples / k + (j < config.samples % k ? 1 : 0);
        std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
        for (int64_t s = 0; s < want; ++s) {
          const double* row = proba.data() + pool[pick(rng)] * static_cast<size_t>(classes);
          for (int64_t c = 0; c < classes; ++c) mean[c] += row[c];
        }
      }
      spreads.push_back(class_spread(mean));  // class_spread normalises the sums
    }
    std::nth_element(spreads.begin(), spreads.begin() + spreads.size() / 2, spreads.end());
    curve.push_back(spreads[spreads.size() / 2]);
  }
  return curve;
}

}  // namespace fp
