// The label-free sparsity selector's settings (no LibTorch; the selector itself is
// prune/sparsity_selector.h).
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

enum class SelectionScore { kPseudoLabelAgreement, kConfidence, kNegEntropy };

const char* selection_score_name(SelectionScore s);
Result<SelectionScore> parse_selection_score(const std::string& s);

struct SelectorConfig {
  std::vector<double> candidates = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  // Confidence is the default: on Fashion-MNIST 2-class individuals it came closest to
  // the best sparsity chosen with labels (docs/BENCHMARKS.md, "label-free choice").
  SelectionScore score = SelectionScore::kConfidence;
  double confident_fraction = 0.5;  // share of each used class's samples used as pseudo-labels
  double min_class_share = 0.1;     // a class predicted less often counts as a confusion
  // Guards of the confidence scores, against the least sparse candidate's predictions on
  // the held-out samples: every class it uses keeps at least `class_retention` of its
  // samples, and at least `min_dense_agreement` of all predictions stay the same.
  double class_retention = 0.5;
  double min_dense_agreement = 0.8;
  // Confidence scores: candidates are nested (each prunes a superset of the previous
  // one's units), so after this many consecutive candidates ruled out by a guard the
  // sparser ones are not run (0: run all). Not 1: a guard sometimes rules out one
  // candidate and passes a sparser one that wins. Chosen on the development individuals,
  // where 2 changed no choice (docs/BENCHMARKS.md, issue 17 item 1).
  int stop_after_ruled_out = 2;
  // Confidence scores: after this many consecutive candidates that cannot be chosen — ruled
  // out, or scoring below the best score so far by more than `tolerance` — the sparser ones
  // are not run (0: off). While on, a candidate also stops after a part (`rule_out_parts`)
  // once its score cannot reach that bar whatever the remaining samples give (an exact
  // bound; its score is then that bound, `SelectorResult::bounded`). Chosen on the
  // development individuals, where 3 changed no choice and 2 one of 650 (a score dipped
  // twice, then rose; docs/BENCHMARKS.md, issue 17 item 1).
  int stop_after_beaten = 3;
  // Confidence scores: each candidate but the first runs over the held-out samples in this
  // many parts, and stops after a part that already decides a guard fails, or (with
  // stop_after_beaten) that its score cannot reach the bar, whatever the rest predict (exact
  // bounds: such a candidate could not have been chosen, and costs less). A candidate stopped
  // by the bar counts as beaten, not as ruled out, which can only run more candidates. 1: one
  // pass each. Chosen by its cost in fp-bench personalize_cost (docs/BENCHMARKS.md, issue 17
  // item 1: 4 parts cost less on the MobileNetV2 bench individual, more on ResNet18).
  int rule_out_parts = 2;
  double min_agreement = 0.95;
  double tolerance = 0.002;
  bool bisection = true;  // kPseudoLabelAgreement only; false scores every candidate
};

}  // namespace fp
