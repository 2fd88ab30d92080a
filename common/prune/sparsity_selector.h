// Choosing the sparsity on the device, without labels.
//
// The unlabeled adaptation data are split: statistics come from one part, and every
// candidate sparsity is pruned and run on the held-out part. Scores:
//  - kPseudoLabelAgreement (default): the dense model's most confident predictions on
//    the held-out part act as pseudo-labels; the sparsest candidate that still agrees
//    with at least `min_agreement` of them is chosen ("compress as far as no confident
//    decision changes").
//  - kConfidence / kNegEntropy: mean max-probability / negative prediction entropy;
//    the best-scoring candidate wins, the sparser one on ties within `tolerance`.
#pragma once

#include <vector>

#include "models/prunable_net.h"
#include "prune/activation_recorder.h"
#include "prune/prune_config.h"
#include "util/status.h"

namespace fp {

enum class SelectionScore { kPseudoLabelAgreement, kConfidence, kNegEntropy };

const char* selection_score_name(SelectionScore s);
Result<SelectionScore> parse_selection_score(const std::string& s);

struct SelectorConfig {
  std::vector<double> candidates = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  SelectionScore score = SelectionScore::kPseudoLabelAgreement;
  double confident_fraction = 0.5;  // share of held-out samples used as pseudo-labels
  double min_agreement = 0.95;
  double tolerance = 0.002;
};

struct SelectorResult {
  double chosen = 0;
  std::vector<double> candidates;
  std::vector<double> scores;  // one per candidate, in the score's own units
};

// `stats` recorded on the statistics part; `heldout` inputs are the held-out part.
Result<SelectorResult> select_sparsity(const PrunableNet& dense, const LayerStats& stats,
                                       const torch::Tensor& heldout, PruneConfig config,
                                       const SelectorConfig& selector = {});

}  // namespace fp
