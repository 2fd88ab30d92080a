#include "prune/sparsity_selector.h"

#include <algorithm>

#include "models/model_factory.h"
#include "prune/pruner.h"
#include "train/evaluator.h"

namespace fp {

const char* selection_score_name(SelectionScore s) {
  switch (s) {
    case SelectionScore::kPseudoLabelAgreement: return "pseudo_label";
    case SelectionScore::kConfidence: return "confidence";
    case SelectionScore::kNegEntropy: return "neg_entropy";
  }
  return "?";
}

Result<SelectionScore> parse_selection_score(const std::string& s) {
  for (auto v : {SelectionScore::kPseudoLabelAgreement, SelectionScore::kConfidence,
                 SelectionScore::kNegEntropy})
    if (s == selection_score_name(v)) return v;
  return Status::invalid_argument("unknown selection score '" + s +
                                  "' (pseudo_label, confidence, neg_entropy)");
}

Result<SelectorResult> select_sparsity(const PrunableNet& dense, const LayerStats& stats,
                                       const torch::Tensor& heldout, PruneConfig config,
                                       const SelectorConfig& sel) {
  if (sel.candidates.empty()) return Status::invalid_argument("selector: no candidate sparsities");
  if (!heldout.defined() || heldout.size(0) == 0)
    return Status::invalid_argument("selector: no held-out data");
  if (!(sel.confident_fraction > 0 && sel.confident_fraction <= 1))
    return Status::invalid_argument("selector: confident_fraction must be in (0, 1]");

  ModelPtr reference = clone_model(dense);
  auto dense_proba = predict_proba(*reference, heldout);
  auto [dense_conf, dense_pred] = dense_proba.max(1);
  const int64_t keep = std::max<int64_t>(1, std::llround(sel.confident_fraction * heldout.size(0)));
  auto confident = std::get<1>(dense_conf.topk(keep));

  SelectorResult r;
  r.candidates = sel.candidates;
  for (double target : sel.candidates) {
    config.target_sparsity = target;
    ModelPtr model = clone_model(dense);
    FP_RETURN_IF_ERROR(prune_with_stats(*model, stats, config));
    auto proba = predict_proba(*model, heldout);
    double score = 0;
    switch (sel.score) {
      case SelectionScore::kPseudoLabelAgreement:
        score = (proba.argmax(1).index_select(0, confident) == dense_pred.index_select(0, confident))
                    .to(torch::kDouble).mean().item<double>();
        break;
      case SelectionScore::kConfidence:
        score = std::get<0>(proba.max(1)).to(torch::kDouble).mean().item<double>();
        break;
      case SelectionScore::kNegEntropy:
        score = (proba * proba.clamp_min(1e-12).log()).sum(1).to(torch::kDouble).mean().item<double>();
        break;
    }
    r.scores.push_back(score);
  }

  r.chosen = r.candidates.front();
  if (sel.score == SelectionScore::kPseudoLabelAgreement) {
    for (size_t i = 0; i < r.candidates.size(); ++i)
      if (r.scores[i] >= sel.min_agreement) r.chosen = std::max(r.chosen, r.candidates[i]);
  } else {
    const double best = *std::max_element(r.scores.begin(), r.scores.end());
    for (size_t i = 0; i < r.candidates.size(); ++i)
      if (r.scores[i] >= best - sel.tolerance) r.chosen = std::max(r.chosen, r.candidates[i]);
  }
  return r;
}

}  // namespace fp
