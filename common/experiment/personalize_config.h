// What one personalization runs and with which settings: the one table of defaults
// (PersonalizeConfig{}) that every configuration source starts from. No LibTorch, so
// scenario, coordinator and task readers compile without it; the experiment itself is
// experiment/personalize.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "baselines/baseline_config.h"
#include "prune/prune_config.h"
#include "prune/selector_config.h"

namespace fp {

struct PersonalizeConfig {
  PruneConfig prune;            // target_sparsity is used when select_sparsity is false
  bool select_sparsity = true;  // choose the sparsity on the device, without labels
  SelectorConfig selector;
  double heldout_fraction = 0.1;      // of the adaptation inputs, scored by the selector
  std::vector<double> sweep_targets;  // labeled accuracy-vs-sparsity curve (empty: none)
  // > 0: every method adapts on only the first this many adaptation samples (the
  // data-amount experiment); 0: all of them.
  int64_t max_adaptation_samples = 0;
  // > 0: Fine-Pruning records its activation statistics on at most this many of the
  // adaptation samples before the held-out tail, spread evenly over them, plus that tail
  // (which the selector scores candidates on); 0: on all of them. Every later pass of
  // Fine-Pruning (compensation, BatchNorm re-estimation) runs on the same samples. 256 was
  // chosen on development data (docs/PROTOCOL.md, amendment of 4 Dec 2026: the smallest cap
  // losing at most 0.2 points there; on test data it lost 0.2, docs/RESULTS.md 8b); beyond
  // the held-out tail, Fine-Pruning's passes then no longer grow with the device's data.
  int64_t statistics_samples = 256;
  bool run_finetune = true;  // the tuned fine-tuning ("finetune")
  TunedFinetuneConfig tuned_finetune;
  FinetuneConfig finetune;  // the plain recipe ("finetune_plain")
  bool run_svd = true;
  // SVD's classifier gets Fine-Pruning's class mask (and is not truncated), as
  // Fine-Pruning treats it; false: truncated like the other layers, no mask.
  bool svd_like_fine_prune = true;
  // Further methods by name (experiment/methods.h), run in this order.
  std::vector<std::string> extra_methods;
  PriorEmConfig prior_em;
  TentConfig tent;
  int64_t batch_norm_batch_size = 128;  // AdaBN's batches
};

}  // namespace fp
