// Fine-Pruning: rank units (or weights) by their recorded activation statistics and
// mask the least used until the target sparsity is reached. No labels, no gradients.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/prunable_net.h"
#include "prune/activation_recorder.h"
#include "prune/prune_config.h"
#include "util/status.h"

namespace fp {

struct LayerSparsity {
  std::string name;
  int64_t units = 0, active_units = 0;
  int64_t weights = 0, zeroed_weights = 0;
};

struct SparsityReport {
  std::vector<LayerSparsity> layers;
  int64_t prunable_weights = 0, zeroed_weights = 0;
  int64_t parameters = 0;           // all parameters (biases, BatchNorm, ...)
  double sparsity() const;          // zeroed / prunable weights
  double overall_sparsity() const;  // zeroed / all parameters
};

SparsityReport measure_sparsity(const PrunableNet& model);

// A general model that already holds zero prunable weights (magnitude-pruned elsewhere, a
// layer of zeros) has them counted in its sparsity, as the paper's measure (zeroed /
// prunable weights) counts them: a target is then met by removing fewer units than on a
// dense model. Empty below 1% of its prunable weights; else a sentence naming the share,
// for the log of whoever ships or personalizes it.
std::string pre_zeroed_note(const PrunableNet& general);

// Every layer's unit and weight masks, to try several pruning decisions on one copy.
struct MaskState {
  std::vector<torch::Tensor> unit_masks, weight_masks;
};
MaskState snapshot_masks(const PrunableNet& model);
void restore_masks(PrunableNet& model, const MaskState& state);

// One model's masks, restored into it many times (the sparsity selector re-prunes one
// working copy per candidate). A mask not written since the last restore (its version
// counter unchanged; every write goes through a torch operation) is neither copied back
// nor needs comparing: unit pruning never writes the weight masks, which are the size of
// the weights.
class MaskCheckpoint {
 public:
  explicit MaskCheckpoint(const PrunableNet& model);  // the masks of `model` now

  const MaskState& state() const { return state_; }
  // Restores the checkpoint's masks into the model it was taken of.
  void restore(PrunableNet& model);
  // Whether layer i's mask may differ from the checkpoint's: written since the last restore.
  bool unit_mask_written(const PrunableNet& model, size_t i) const;
  bool weight_mask_written(const PrunableNet& model, size_t i) const;

 private:
  MaskState state_;
  std::vector<int64_t> unit_versions_, weight_versions_;  // the model's masks' after restore
};

// Applies one pruning decision from `stats` to reach config.target_sparsity.
// Masks only grow (already pruned entries stay pruned).
Status prune_with_stats(PrunableNet& model, const LayerStats& stats, const PruneConfig& config);

// prune_with_stats at several targets from the same starting point: the sparsity selector
// re-prunes one model at every candidate sparsity, restoring its masks in between. What
// does not depend on the target (each layer's zero weights per unit, the global unit
// ranking) is computed at the first call and reused, so each further target costs a walk
// down the ranking. The caller keeps the model, its masks before each call, `stats` and
// `config` (but for its target) as they were at the first call; the masks set are exactly
// prune_with_stats's.
class RepeatedPruner {
 public:
  RepeatedPruner(const LayerStats& stats, PruneConfig config);
  ~RepeatedPruner();
  RepeatedPruner(const RepeatedPruner&) = delete;
  RepeatedPruner& operator=(const RepeatedPruner&) = delete;

  Status prune(PrunableNet& model, double target_sparsity);
  // Whether the last prune() was refused because its target is unreachable with the protected
  // layers left dense (its error says so): the selector rules out such a candidate and the
  // sweep leaves out such a point (a candidate list reaching past what a small model's
  // protected layers allow failed every task).
  bool last_unreachable() const { return last_unreachable_; }

  struct Cache;  // pruner.cpp

 private:
  const LayerStats& stats_;
  PruneConfig config_;
  std::unique_ptr<Cache> cache_;
  bool last_unreachable_ = false;
};

// The whole procedure: record, prune; for kIterative, `iterative_steps` rounds of
// record-on-the-pruned-model then prune to the next intermediate target.
Result<SparsityReport> fine_prune(PrunableNet& model, const torch::Tensor& unlabeled_inputs,
                                  const PruneConfig& config);

}  // namespace fp
