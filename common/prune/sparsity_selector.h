// Choosing the sparsity on the device without labels.
//
// The unlabeled adaptation data are split: statistics come from one part, and each
// candidate sparsity is scored on the held-out part by the mean confidence (max
// softmax probability) of the pruned model's predictions. The selector picks the
// highest-scoring candidate, preferring the sparser on ties within `tolerance`.
#pragma once

#include <vector>

#include "models/prunable_net.h"
#include "prune/activation_recorder.h"
#include "prune/prune_config.h"
#include "util/status.h"

namespace fp {

enum class SelectionScore { kConfidence, kNegEntropy };

struct SelectorConfig {
  std::vector<double> candidates = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  SelectionScore score = SelectionScore::kConfidence;
  double tolerance = 0.002;  // scores this close count as equal; the sparser wins
};

struct SelectorResult {
  double chosen = 0;
  std::vector<double> candidates;
  std::vector<double> scores;
};

// `stats` recorded on the statistics part; `heldout` inputs are the held-out part.
Result<SelectorResult> select_sparsity(const PrunableNet& dense, const LayerStats& stats,
                                       const torch::Tensor& heldout, PruneConfig config,
                                       const SelectorConfig& selector = {});

}  // namespace fp
