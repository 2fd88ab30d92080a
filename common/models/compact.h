// Compaction: from a pruned (masked) model, the dense smaller model with the pruned
// units physically removed, whose outputs equal the masked model's.
//
// What is removed, per channel space (models/prunable_net.h):
//  - plain chains (MLP, CNN, VGG, inside ResNet blocks): a pruned unit's output channel
//    (weights, bias, BatchNorm entries) and the input columns of every layer reading it
//    (all `positions` columns after a flatten). A pruned unit's output is exactly zero
//    after its activation (the mask acts there), so its readers lose nothing.
//  - residual streams (ResNet, MobileNetV2): the channel is a sum over all blocks of the
//    stage, so it is removed only when EVERY producer pruned it. A channel some producer
//    still uses is kept everywhere; the producers that pruned it keep a row of zeros
//    (zero weights and BatchNorm scale/shift, so it adds exactly zero). These rows are
//    counted in CompactStats::coupled_dead_weights.
//  - depthwise convs (MobileNetV2): channel c of the expand conv, of the depthwise conv
//    and the project conv's input c form one group, kept exactly when the depthwise
//    unit is live. A pruned expand unit under a live depthwise unit is kept as a zero
//    row (the depthwise conv of zero is BatchNorm's constant, which the masked model
//    computes too); a pruned depthwise unit takes its expand unit with it.
//  - the classifier: pruned classes are removed; the compact classifier's class_ids
//    buffer maps its outputs back, and forward() returns logits over all original
//    classes with kPrunedLogit for removed ones, exactly as the masked model does.
// Weight-granularity zeros stay in the (dense) compact tensors.
//
// A compact model is an ordinary PrunableNet whose spec lists its layer widths
// (ModelSpec::widths); its masks are folded into its weights (inference only), it
// saves and loads with save_model/load_model (models/artifact.h) and is compacted
// again without change. Compare it with its parent in eval() mode (BatchNorm's
// running statistics): the compact model is returned in eval mode.
#pragma once

#include <cstdint>
#include <vector>

#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct CompactStats {
  int64_t parameters = 0;            // all parameters of the compact model
  int64_t weights = 0;               // prunable-layer weights of the compact model
  int64_t coupled_dead_weights = 0;  // of those, zero rows kept for a coupled channel
  int64_t removed_units = 0;         // units of the parent not in the compact model
};

struct CompactNet {
  ModelPtr model;  // eval mode, masks folded
  CompactStats stats;
  // Per layer, bool [the parent layer's input features]: the ones the compact layer reads.
  std::vector<torch::Tensor> kept_inputs;
};

Result<CompactNet> compact(const PrunableNet& masked);

// Which units of each layer compaction keeps (bool [units] per layer, layer order):
// what compact() builds from, exposed for cost accounting and tests.
Result<std::vector<torch::Tensor>> kept_units(const PrunableNet& masked);

}  // namespace fp
