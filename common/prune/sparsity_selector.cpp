#include "prune/sparsity_selector.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include "models/compact.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "train/evaluator.h"
#include "util/clock.h"

namespace fp {

const char* selection_score_name(SelectionScore s) {
  switch (s) {
    case SelectionScore::kPseudoLabelAgreement:
      return "pseudo_label";
    case SelectionScore::kConfidence:
      return "confidence";
    case SelectionScore::kNegEntropy:
      return "neg_entropy";
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

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kRuledOut = -std::numeric_limits<double>::infinity();

// The most confident `fraction` of the samples predicted as each *used* class (one
// predicted for at least `min_share` of the samples). Per class, so that a class the
// individual uses cannot be pruned away unnoticed; used classes only, so that removing
// the dense model's occasional confusions is not counted against a candidate.
torch::Tensor confident_per_class(const torch::Tensor& conf, const torch::Tensor& pred,
                                  double fraction, double min_share) {
  std::vector<torch::Tensor> picked;
  const int64_t n = pred.size(0);
  auto classes = std::get<0>(torch::_unique(pred)).contiguous();
  for (int64_t i = 0; i < classes.numel(); ++i) {
    auto members = (pred == classes[i]).nonzero().flatten();
    if (members.numel() < std::max<int64_t>(1, std::llround(min_share * n))) continue;
    const int64_t keep = std::max<int64_t>(1, std::llround(fraction * members.numel()));
    auto top = std::get<1>(conf.index_select(0, members).topk(keep));
    picked.push_back(members.index_select(0, top));
  }
  if (picked.empty()) return torch::arange(n, torch::kLong);
  return torch::cat(picked);
}

// Mean over pseudo-classes of the share of their samples still predicted as that class.
double macro_agreement(const torch::Tensor& pred, const torch::Tensor& pseudo) {
  auto classes = std::get<0>(torch::_unique(pseudo)).contiguous();
  double sum = 0;
  for (int64_t i = 0; i < classes.numel(); ++i) {
    auto in_class = pseudo == classes[i];
    sum += (pred.masked_select(in_class) == classes[i]).to(torch::kDouble).mean().item<double>();
  }
  return classes.numel() ? sum / classes.numel() : 1.0;
}

// Classes predicted for at least `min_share` of the samples: the ones the individual uses.
std::vector<int64_t> used_classes(const torch::Tensor& pred, double min_share) {
  std::vector<int64_t> used;
  auto counts = torch::bincount(pred).contiguous();
  for (int64_t c = 0; c < counts.numel(); ++c)
    if (counts[c].item<int64_t>() >= std::max<int64_t>(1, std::llround(min_share * pred.size(0))))
      used.push_back(c);
  return used;
}

// Confidence alone rewards collapse (one class left is always certain): a candidate
// must still predict every used class for at least `retention` of the samples the dense
// model predicts as that class (and at least one). A fixed share of all samples was not
// enough: on 20 held-out samples it let a model that predicts one class for 19 of them
// through (docs/RESULTS.md, "Which variant is the default"). The predictions each used class
// needs, in the order of `used`:
std::vector<int64_t> retention_needs(const torch::Tensor& reference_pred,
                                     const std::vector<int64_t>& used, double retention) {
  auto dense_counts = torch::bincount(reference_pred).contiguous();
  std::vector<int64_t> need;
  for (int64_t c : used)
    need.push_back(std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(retention * dense_counts[c].item<int64_t>()))));
  return need;
}

// Whether `pred`, followed by `rest` more predictions of any class, can still give every
// used class its need (rest = 0: whether `pred` does).
bool can_keep_classes(const torch::Tensor& pred, int64_t rest, const std::vector<int64_t>& used,
                      const std::vector<int64_t>& need) {
  auto counts = torch::bincount(pred).contiguous();
  for (size_t i = 0; i < used.size(); ++i) {
    const int64_t c = used[i];
    const int64_t have = c < counts.numel() ? counts[c].item<int64_t>() : 0;
    if (have + rest < need[i]) return false;
  }
  return true;
}

// Per layer, whether each unit's recorded output was ever nonzero (ActivationStats::
// ever_nonzero), as plain flags; empty for a layer without statistics.
using FiredUnits = std::vector<std::vector<uint8_t>>;
FiredUnits fired_units(const PrunableNet& model, const LayerStats& stats) {
  FiredUnits fired(model.layers().size());
  for (size_t i = 0; i < fired.size(); ++i) {
    auto it = stats.find(model.layer_names()[i]);
    if (it == stats.end() || !it->second.positive.defined() || !it->second.sum.defined()) continue;
    const torch::Tensor f = it->second.ever_nonzero().contiguous();
    fired[i].assign(f.data_ptr<bool>(), f.data_ptr<bool>() + f.numel());
  }
  return fired;
}

// The first layer (in registration order, which is forward order) whose outputs on the
// held-out inputs differ from the dense model's; `layer` = layers().size() when none does (the
// output layer's pruned classes alone only mask logits). `units_only`: it changed only by
// pruning units, so its kept units compute what they did. With `fired` from statistics
// recorded over the held-out inputs too, a newly pruned unit whose output was exactly zero on
// every recorded sample, the held-out ones included, changes nothing.
// `dense`: the working copy's masks before its pruning.
struct FirstChange {
  size_t layer;
  bool units_only;
};
FirstChange first_change(const PrunableNet& model, const MaskCheckpoint& dense,
                         const FiredUnits* fired) {
  const auto& layers = model.layers();
  const MaskState& before = dense.state();
  for (size_t i = 0; i < layers.size(); ++i) {
    if (dense.weight_mask_written(model, i) &&
        !layers[i]->weight_mask().equal(before.weight_masks[i]))
      return {i, false};
    if (layers[i]->is_output() || !dense.unit_mask_written(model, i)) continue;
    // Unit masks: float [units], contiguous; read in place (a few torch operations per layer
    // and candidate cost more than the comparison).
    const torch::Tensor now = layers[i]->unit_mask().contiguous();
    const torch::Tensor was = before.unit_masks[i].contiguous();
    const float* n = now.data_ptr<float>();
    const float* w = was.data_ptr<float>();
    const std::vector<uint8_t>* f = fired && !(*fired)[i].empty() ? &(*fired)[i] : nullptr;
    for (int64_t u = 0; u < now.numel(); ++u) {
      if (n[u] == w[u]) continue;
      if (!f || !(w[u] > 0 && n[u] == 0) || (*f)[static_cast<size_t>(u)]) return {i, true};
    }
  }
  return {layers.size(), false};
}

// Per layer: whether the next segment starts right after it and reads only its outputs (a
// plain chain, a head) through a space compaction removes pruned channels from (not a
// fixed one), so that a candidate whose first change prunes this layer's units can start
// there, from the layer's recorded outputs without its pruned channels.
std::vector<bool> next_segment_reads_only(const PrunableNet& model) {
  std::vector<bool> only(model.layers().size(), false);
  const auto& starts = model.segment_starts();
  for (const ChannelSpace& sp : model.channel_spaces()) {
    if (sp.producers.size() != 1 || sp.depthwise >= 0 || sp.fixed) continue;
    const size_t c = sp.producers[0];
    only[c] = std::binary_search(starts.begin(), starts.end(), c + 1) &&
              std::find(sp.readers.begin(), sp.readers.end(), c + 1) != sp.readers.end();
  }
  return only;
}

// Each sample's part of a confidence score (the score is their mean), and the most one
// sample can add: max-probability (at most 1) or negative entropy (at most 0).
torch::Tensor per_sample_score(const torch::Tensor& proba, SelectionScore score) {
  if (score == SelectionScore::kConfidence) return std::get<0>(proba.max(1));
  return (proba * proba.clamp_min(1e-12).log()).sum(1);
}
double best_per_sample(SelectionScore score) {
  return score == SelectionScore::kConfidence ? 1.0 : 0.0;
}

// A candidate's score; `bounded`: it stopped early, and `score` is the most it could have
// reached.
struct CandidateScore {
  double score = 0;
  bool bounded = false;
};

// Scores one candidate sparsity on `inputs` (`pseudo` labels for the agreement score).
// Each candidate runs as its compact model (models/compact.h), so it costs what the
// pruned model really costs; a candidate whose outputs on `inputs` cannot differ from
// the dense model's but for its pruned classes (first_change) reuses the dense logits and
// costs nothing, and one whose first segments (PrunableNet::segment_starts) compute what the
// dense model did starts after them, from what the recording pass kept of their outputs
// (`layer_inputs`). The candidates are pruned on `model` itself, whose masks are restored when
// the scorer goes.
class CandidateScorer {
 public:
  CandidateScorer(PrunableNet& model, const LayerStats& stats, PruneConfig config,
                  SelectionScore score, torch::Tensor inputs, torch::Tensor dense_logits,
                  torch::Tensor pseudo, double min_class_share, double class_retention,
                  double min_dense_agreement, int rule_out_parts, bool heldout_recorded,
                  std::vector<torch::Tensor> layer_inputs)
      : model_(model),
        dense_masks_(model_),
        fired_(heldout_recorded ? fired_units(model_, stats) : FiredUnits{}),
        pruner_(stats, std::move(config)),
        score_(score),
        inputs_(std::move(inputs)),
        dense_logits_(std::move(dense_logits)),
        pseudo_(std::move(pseudo)),
        min_class_share_(min_class_share),
        class_retention_(class_retention),
        min_dense_agreement_(min_dense_agreement),
        rule_out_parts_(rule_out_parts),
        layer_inputs_(std::move(layer_inputs)),
        start_after_(next_segment_reads_only(model_)) {}
  ~CandidateScorer() {
    try {
      dense_masks_.restore(model_);
    } catch (const c10::Error& e) {  // a destructor must not throw; nothing else to do here
      spdlog::error("selector: the model's masks could not be restored: {}",
                    e.what_without_backtrace());
    }
  }
  CandidateScorer(const CandidateScorer&) = delete;
  CandidateScorer& operator=(const CandidateScorer&) = delete;

  // The candidate's class probabilities on the inputs (`proba`), and their cost. Undefined
  // when the first parts of the inputs already rule it out (must_fail; `bound` NaN) or
  // already keep its score below `bar` (`bound`: the most it could reach), the rest not run.
  struct Proba {
    torch::Tensor proba;
    double bound = std::numeric_limits<double>::quiet_NaN();
  };
  Result<Proba> candidate_proba(double bar) {
    const FirstChange first =
        first_change(model_, dense_masks_, fired_.empty() ? nullptr : &fired_);
    if (first.layer == model_.layers().size()) {
      torch::NoGradGuard no_grad;
      auto live = (model_.layers().back()->unit_mask() > 0).view({1, -1});
      return Proba{torch::softmax(
          torch::where(live, dense_logits_, torch::full({}, kPrunedLogit, dense_logits_.options())),
          1)};
    }
    auto start = Clock::now();
    auto compacted = compact(model_);
    compact_seconds_ += seconds_since(start);
    PrunableNet& runner = compacted.ok() ? *compacted->model : model_;  // masked if it cannot
    start = Clock::now();
    size_t from = 0;  // the layer the candidate starts at; `source`: what it reads
    torch::Tensor source = inputs_;
    if (compacted.ok()) std::tie(from, source) = replay_input(first, compacted->kept_inputs);
    // Guarded candidates (all but the reference, confidence scores) run part by part.
    const int64_t n = inputs_.size(0);
    const bool guarded = score_ != SelectionScore::kPseudoLabelAgreement && reference_.defined();
    const int64_t part = guarded ? (n + rule_out_parts_ - 1) / rule_out_parts_ : n;
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < n; b += part) {
      const int64_t e = std::min(n, b + part);
      parts.push_back(predict_proba(runner, source.slice(0, b, e), kBatch, from));
      samples_ += e - b;
      macs_ += executed_macs(runner, from) * (e - b);
      if (!guarded || e == n) continue;
      auto head = torch::cat(parts);
      if (must_fail(head.argmax(1), n - e)) {
        forward_seconds_ += seconds_since(start);
        return Proba{};
      }
      // The score is a mean of per-sample values of at most best_per_sample: its bound.
      const double bound = (per_sample_score(head, score_).to(torch::kDouble).sum().item<double>() +
                            static_cast<double>(n - e) * best_per_sample(score_)) /
                           static_cast<double>(n);
      if (bound < bar - 1e-9) {  // the margin covers the whole mean's rounding
        forward_seconds_ += seconds_since(start);
        return Proba{torch::Tensor(), bound};
      }
    }
    forward_seconds_ += seconds_since(start);
    return Proba{parts.size() == 1 ? parts.front() : torch::cat(parts)};
  }

  // Where a candidate whose first change is `first` starts, and what it reads there as its
  // compact model reads it (`kept_inputs` from compact()): the latest segment with a kept
  // input at or before the one `first` is in, or the next one when that reads only the
  // changed layer's outputs; (0, inputs_) when none. Every layer before `first` computes what
  // it did in the recording, its pruned units included (they never fired), so the compact
  // model reads those values with its removed channels dropped. Starting after `first`, the
  // channels compaction keeps are exactly the changed layer's live units (start_after_), but
  // for a layer left with none, whose one kept channel is zeros: the pruner always leaves
  // min_units_per_layer >= 1, and such a layer starts at its own segment instead.
  std::pair<size_t, torch::Tensor> replay_input(const FirstChange& first,
                                                const std::vector<torch::Tensor>& kept_inputs) {
    if (layer_inputs_.empty()) return {0, inputs_};
    const bool after = first.units_only && start_after_[first.layer] &&
                       model_.layers()[first.layer]->num_active_units() > 0;
    size_t from = first.layer + (after ? 1 : 0);
    while (from > 0 && !layer_inputs_[from].defined()) --from;
    if (from == 0) return {0, inputs_};
    const torch::NoGradGuard no_grad;
    return {from, layer_inputs_[from].index_select(1, kept_inputs[from].nonzero().flatten())};
  }

  // Whether a candidate whose first predictions are `head`, `rest` samples still to run,
  // fails a guard whatever it predicts on them: too few can still agree with the reference,
  // or a used class can no longer get its share. An exact bound, so every score is the one
  // the whole run gives; ties are left to the whole run (its agreement is a float mean).
  bool must_fail(const torch::Tensor& head, int64_t rest) const {
    const int64_t n = head.size(0) + rest;
    const int64_t agree = (head == reference_.slice(0, 0, head.size(0))).sum().item<int64_t>();
    if (static_cast<double>(agree + rest) < min_dense_agreement_ * static_cast<double>(n) - 1e-9)
      return true;
    return !can_keep_classes(head, rest, used_classes_, retention_need_);
  }

  // The score at `target`; a confidence score stops early once it cannot reach `bar`
  // (-inf: never).
  Result<CandidateScore> operator()(double target, double bar) {
    const auto start = Clock::now();
    dense_masks_.restore(model_);  // one working copy, re-pruned per candidate
    Status pruned = pruner_.prune(model_, target);
    prune_seconds_ += seconds_since(start);
    // Past what the layers left dense allow (a small model's): ruled out, not a failed task.
    if (!pruned.ok() && pruner_.last_unreachable()) return CandidateScore{kRuledOut};
    FP_RETURN_IF_ERROR(pruned);
    FP_ASSIGN_OR_RETURN(Proba run, candidate_proba(bar));
    if (!run.proba.defined()) {
      if (std::isnan(run.bound)) return CandidateScore{kRuledOut};  // by the first parts
      return CandidateScore{run.bound, true};
    }
    return CandidateScore{score_of(run.proba)};
  }

  // The score of a candidate's probabilities over all the inputs (kRuledOut by a guard).
  double score_of(const torch::Tensor& proba) {
    if (score_ != SelectionScore::kPseudoLabelAgreement) {
      auto pred = proba.argmax(1);
      if (!reference_.defined()) {
        // The first (least sparse) candidate is the reference the others must not stray
        // from. Not the dense model: the output layer's usage pruning, done at every
        // candidate, already removes the dense model's rare confusions, so a guard
        // against the dense model would rule out every candidate.
        reference_ = pred;
        used_classes_ = used_classes(pred, min_class_share_);
        retention_need_ = retention_needs(pred, used_classes_, class_retention_);
      } else {
        if (!can_keep_classes(pred, 0, used_classes_, retention_need_)) return kRuledOut;
        // Personalization corrects some of the reference's decisions, not most of them.
        if ((pred == reference_).to(torch::kDouble).mean().item<double>() < min_dense_agreement_)
          return kRuledOut;
      }
    }
    if (score_ == SelectionScore::kPseudoLabelAgreement)
      return macro_agreement(proba.argmax(1), pseudo_);
    return per_sample_score(proba, score_).to(torch::kDouble).mean().item<double>();
  }
  // The masks of the model pruned at `target`.
  Result<MaskState> masks_at(double target) {
    dense_masks_.restore(model_);
    FP_RETURN_IF_ERROR(pruner_.prune(model_, target));
    return snapshot_masks(model_);
  }
  int64_t samples() const { return samples_; }
  int64_t macs() const { return macs_; }
  // Copies where its time went into `r`.
  void add_times(SelectorResult& r) const {
    r.prune_seconds = prune_seconds_;
    r.compact_seconds = compact_seconds_;
    r.forward_seconds = forward_seconds_;
  }

 private:
  static constexpr int64_t kBatch = 256;  // predict_proba's
  PrunableNet& model_;                    // pruned per candidate: the working copy
  MaskCheckpoint dense_masks_;  // its masks before, restored before each candidate and at the end
  FiredUnits fired_;       // per layer, from the statistics; empty unless they include `inputs_`
  RepeatedPruner pruner_;  // the ranking made once, for every candidate
  SelectionScore score_;
  torch::Tensor inputs_, dense_logits_, pseudo_;
  torch::Tensor reference_;              // the first candidate's predictions (confidence scores)
  std::vector<int64_t> used_classes_;    // the reference's, set with it
  std::vector<int64_t> retention_need_;  // per used class, set with it
  double min_class_share_, class_retention_, min_dense_agreement_;
  int rule_out_parts_;
  std::vector<torch::Tensor> layer_inputs_;  // recorded on `inputs_`; empty or undefined: not kept
  std::vector<bool> start_after_;            // next_segment_reads_only
  int64_t samples_ = 0, macs_ = 0;
  double prune_seconds_ = 0, compact_seconds_ = 0, forward_seconds_ = 0;
};

}  // namespace

std::string format_candidate_scores(const SelectorResult& r) {
  std::string out;
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    const double s = r.scores[i];
    out += fmt::format(" {}:", r.candidates[i]);  // exactly: a grid may hold 0.15
    if (std::isnan(s))
      out += "-";
    else
      out += fmt::format("{}{:.4f}", i < r.bounded.size() && r.bounded[i] ? "<=" : "", s);
  }
  return out;
}

Result<SelectorResult> select_sparsity(PrunableNet& dense, const LayerStats& stats,
                                       const torch::Tensor& heldout,
                                       const torch::Tensor& dense_logits, PruneConfig config,
                                       const SelectorConfig& sel, bool heldout_recorded,
                                       std::vector<torch::Tensor> heldout_layer_inputs) {
  if (sel.candidates.empty()) return Status::invalid_argument("selector: no candidate sparsities");
  if (!std::is_sorted(sel.candidates.begin(), sel.candidates.end()))
    return Status::invalid_argument("selector: candidates must be in increasing order");
  if (!heldout.defined() || heldout.size(0) == 0)
    return Status::invalid_argument("selector: no held-out data");
  if (!(sel.confident_fraction > 0 && sel.confident_fraction <= 1))
    return Status::invalid_argument("selector: confident_fraction must be in (0, 1]");
  if (sel.stop_after_ruled_out < 0)
    return Status::invalid_argument("selector: stop_after_ruled_out must be >= 0 (0: run all)");
  if (sel.stop_after_beaten < 0)
    return Status::invalid_argument("selector: stop_after_beaten must be >= 0 (0: off)");
  if (sel.rule_out_parts < 1)
    return Status::invalid_argument("selector: rule_out_parts must be >= 1 (1: one pass)");

  // Not known: one dense pass over the held-out inputs.
  torch::Tensor logits =
      dense_logits.defined() ? dense_logits : predict_logits(dense, heldout, config.batch_size);
  if (logits.size(0) != heldout.size(0))
    return Status::invalid_argument("selector: dense logits and held-out inputs differ in length");
  // The statistics and logits came from one pass over `heldout` (what it kept is usable).
  const bool recorded = heldout_recorded && dense_logits.defined();
  if (!recorded || dense.segment_starts().empty()) heldout_layer_inputs.clear();
  if (!heldout_layer_inputs.empty() && heldout_layer_inputs.size() != dense.layers().size())
    return Status::invalid_argument("selector: held-out inputs kept for " +
                                    std::to_string(heldout_layer_inputs.size()) + " layers of " +
                                    std::to_string(dense.layers().size()));
  const auto& starts = dense.segment_starts();
  for (size_t i = 0; i < heldout_layer_inputs.size(); ++i) {
    const torch::Tensor& t = heldout_layer_inputs[i];
    if (!t.defined()) continue;
    if (!std::binary_search(starts.begin(), starts.end(), i))
      return Status::invalid_argument("selector: inputs kept for layer " + dense.layer_names()[i] +
                                      ", which starts no segment");
    if (t.size(0) != heldout.size(0))
      return Status::invalid_argument(
          "selector: a layer's kept inputs and the held-out inputs differ in length");
  }
  auto [conf, pred] = torch::softmax(logits, 1).max(1);
  torch::Tensor inputs = heldout, pseudo = pred;
  if (sel.score == SelectionScore::kPseudoLabelAgreement) {
    auto picked = confident_per_class(conf, pred, sel.confident_fraction, sel.min_class_share);
    inputs = heldout.index_select(0, picked);
    pseudo = pred.index_select(0, picked);
    logits = logits.index_select(0, picked);
    for (auto& t : heldout_layer_inputs)
      if (t.defined()) t = t.index_select(0, picked);
  }

  SelectorResult r;
  r.candidates = sel.candidates;
  std::sort(r.candidates.begin(), r.candidates.end());  // the least sparse is scored first
  r.scores.assign(sel.candidates.size(), std::numeric_limits<double>::quiet_NaN());
  r.bounded.assign(sel.candidates.size(), false);
  CandidateScorer scorer(dense, stats, config, sel.score, inputs, logits, pseudo,
                         sel.min_class_share, sel.class_retention, sel.min_dense_agreement,
                         sel.rule_out_parts, recorded, std::move(heldout_layer_inputs));
  auto score_at = [&](size_t i, double bar) -> Result<double> {
    if (std::isnan(r.scores[i])) {
      FP_ASSIGN_OR_RETURN(CandidateScore s, scorer(r.candidates[i], bar));
      r.scores[i] = s.score;
      r.bounded[i] = s.bounded;
    }
    return r.scores[i];
  };

  const size_t k = r.candidates.size();
  r.chosen = r.candidates.front();
  if (sel.score == SelectionScore::kPseudoLabelAgreement && sel.bisection) {
    // Largest index whose agreement passes, assuming agreement falls with sparsity.
    size_t lo = 0, hi = k;  // candidates[lo] is taken as passing (the dense end)
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      FP_ASSIGN_OR_RETURN(double s, score_at(mid, kRuledOut));
      (s >= sel.min_agreement ? lo : hi) = mid;
    }
    r.chosen = r.candidates[lo];
  } else {
    const bool confidence = sel.score != SelectionScore::kPseudoLabelAgreement;
    const int stop_after = confidence ? sel.stop_after_ruled_out : 0;
    const int stop_after_beaten = confidence ? sel.stop_after_beaten : 0;
    int ruled_out = 0, beaten = 0;  // consecutive
    double best = kRuledOut;        // so far
    for (size_t i = 0; i < k; ++i) {
      // Below `bar` a candidate cannot be chosen: the final best is at least `best`.
      const double bar = stop_after_beaten > 0 ? best - sel.tolerance : kRuledOut;
      FP_ASSIGN_OR_RETURN(double s, score_at(i, bar));
      // A bounded score is finite and below the bar: beaten, and not counted as ruled out
      // (it might have been), which can only run more candidates than stop_after_ruled_out
      // alone would; nor can it raise the best.
      ruled_out = s == kRuledOut ? ruled_out + 1 : 0;
      beaten = s == kRuledOut || s < bar ? beaten + 1 : 0;
      best = std::max(best, s);
      if (stop_after > 0 && ruled_out >= stop_after) break;  // the rest stay NaN
      if (stop_after_beaten > 0 && beaten >= stop_after_beaten) break;
    }
    if (sel.score == SelectionScore::kPseudoLabelAgreement) {
      for (size_t i = 0; i < k; ++i)
        if (r.scores[i] >= sel.min_agreement) r.chosen = r.candidates[i];
    } else {
      // The sparsest candidate within tolerance of the best; none passing: the first.
      // Candidates not run (NaN) compare false everywhere; bounded ones stay below the bar.
      for (size_t i = 0; std::isfinite(best) && i < k; ++i)
        if (r.scores[i] >= best - sel.tolerance) r.chosen = r.candidates[i];
    }
  }
  FP_ASSIGN_OR_RETURN(r.chosen_masks, scorer.masks_at(r.chosen));
  r.forward_samples = scorer.samples();
  r.forward_macs = scorer.macs();
  scorer.add_times(r);
  return r;
}

}  // namespace fp
