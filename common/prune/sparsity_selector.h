// Choosing the sparsity on the device, without labels.
//
// The unlabeled adaptation data are split: statistics come from one part, and every
// candidate sparsity is pruned and run on the held-out part. Scores:
//  - kPseudoLabelAgreement: the dense model's most confident predictions on
//    the held-out part act as pseudo-labels (the top `confident_fraction` of each class
//    the dense model predicts for at least `min_class_share` of the samples); the
//    sparsest candidate whose agreement, averaged over those classes, is still at least
//    `min_agreement` is chosen ("compress as far as no confident
//    decision changes"). Agreement falls as sparsity rises, so by default the candidates
//    are searched by bisection: about log2(K) pruned forward passes over the confident
//    samples only, which keeps the whole choice within a fraction of one inference pass.
//  - kConfidence (the default) / kNegEntropy: mean max-probability / negative prediction entropy;
//    the best-scoring candidate wins, the sparser one on ties within `tolerance`.
//    Candidates that stop predicting a class the dense model uses (one it predicts for
//    at least `min_class_share` of the samples) are ruled out: confidence alone would
//    reward collapsing onto a single class. After `stop_after_ruled_out` consecutive
//    ruled-out candidates, or `stop_after_beaten` consecutive ones that cannot be chosen
//    (ruled out or below the best score so far by more than `tolerance`), the sparser ones
//    are not run (their scores stay NaN). A candidate runs in `rule_out_parts` parts and
//    stops once the guards must fail, or (with `stop_after_beaten`) once its score cannot
//    reach that bar, whatever the rest predict: the same choice as whole passes, at less cost.
#pragma once

#include <string>
#include <vector>

#include "models/prunable_net.h"
#include "prune/activation_recorder.h"
#include "prune/prune_config.h"
#include "prune/pruner.h"
#include "prune/selector_config.h"
#include "util/status.h"

namespace fp {

struct SelectorResult {
  double chosen = 0;
  // The masks of pruning the model at `chosen` (restore_masks applies them: what
  // prune_with_stats at that target gives, without ranking the units again).
  MaskState chosen_masks;
  std::vector<double> candidates;
  std::vector<double> scores;  // per candidate, in the score's own units; NaN = not evaluated
  // Per candidate: it stopped once its score could not reach the bar, and `scores` holds
  // the bound it could at most have reached (below the bar: it cannot be chosen).
  std::vector<bool> bounded;
  int64_t forward_samples = 0;  // samples run through pruned models (the selection's cost)
  // Their multiply-accumulates: each candidate runs as its compact model
  // (models/compact.h); one that prunes only output classes reuses the dense logits
  // and runs nothing.
  int64_t forward_macs = 0;
  // Where the selection's time went (wall seconds): re-pruning the working copy for each
  // candidate, building the candidates' compact models, and their forward passes.
  double prune_seconds = 0, compact_seconds = 0, forward_seconds = 0;
};

// " 0:0.9480 0.1:<=0.88 0.15:-inf 0.2:-" — each candidate's score: "<=" bounded,
// -inf ruled out by a guard, "-" not run. For logs and benches.
std::string format_candidate_scores(const SelectorResult& r);

// `stats` from record_activations(dense). The candidates are pruned on `dense` itself, not a
// copy (copying a model cost more than a candidate's pruning): its masks are as they were when
// this returns, whatever it returns. `heldout` inputs to score on, with the dense
// model's logits on them if already known (e.g. from the recording pass) or undefined
// (then one dense pass over `heldout` computes them, not counted in the result).
// `heldout_recorded`: `stats` and `dense_logits` come from one recording pass that
// included `heldout`; then a candidate that prunes only units whose recorded output was
// always zero (and output classes) has exactly the dense logits, and runs nothing.
// `heldout_layer_inputs` (with `heldout_recorded`): what each segment of the model read on
// `heldout` in that pass (TailInputs::layer_inputs); a candidate then starts at the latest
// kept segment before which it computes what the dense model did.
Result<SelectorResult> select_sparsity(PrunableNet& dense, const LayerStats& stats,
                                       const torch::Tensor& heldout,
                                       const torch::Tensor& dense_logits, PruneConfig config,
                                       const SelectorConfig& selector = {},
                                       bool heldout_recorded = false,
                                       std::vector<torch::Tensor> heldout_layer_inputs = {});

}  // namespace fp
