// PrunableLayer: a convolution or linear layer, with optional BatchNorm and activation,
// whose output channels / neurons are *prunable units*.
//
// A unit is pruned by its entry in `unit_mask`; single weights by `weight_mask`.
// The mask is applied after normalisation and activation, so a pruned unit's
// (post-activation) output is exactly zero. The output layer is the exception that
// proves the rule: its activation is softmax, and a pruned class gets a logit of
// -1e9 so that its probability is exactly zero and it is never predicted.
//
// While a recorder is attached (set_recorder), forward() also accumulates the
// statistics Fine-Pruning ranks units by (see prune/activation_stats.h).
//
// A BatchNorm in eval mode is folded into the weights and bias at forward() (one pass
// over the output instead of two); the result equals conv-then-BatchNorm up to rounding.
#pragma once

#include <torch/torch.h>

#include <string>

namespace fp {

struct ActivationStats;

enum class Activation { kNone, kReLU, kReLU6, kSoftmax };

enum class LayerKind { kConv, kLinear };

struct LayerOptions {
  LayerKind kind = LayerKind::kConv;
  int64_t in = 0;                                           // input channels / features
  int64_t out = 0;                                          // units: output channels / features
  int64_t kernel = 1, stride = 1, padding = 0, groups = 1;  // conv only
  bool bias = true;
  bool batch_norm = false;
  Activation activation = Activation::kReLU;
  bool output_layer = false;  // the classifier: softmax units, pruning optional
  // Compact classifiers only: its `out` units are these many original classes, and a
  // "class_ids" buffer maps each unit to its class. forward() then returns logits over
  // all class_space classes, kPrunedLogit for the removed ones (as a masked model does).
  int64_t class_space = 0;
};

// A hidden linear layer, and the classifier (softmax units, output_layer set).
LayerOptions linear_options(int64_t in, int64_t out, Activation activation = Activation::kReLU);
LayerOptions classifier_options(int64_t in, int64_t num_classes);
// A "same"-padded convolution followed by BatchNorm (so no bias), as in ResNet and MobileNetV2.
LayerOptions conv_bn_options(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                             Activation activation, int64_t groups = 1);

// The logit a pruned output unit gets: exp(-1e9) is exactly 0 in float32.
constexpr float kPrunedLogit = -1e9f;

class PrunableLayerImpl : public torch::nn::Module {
 public:
  explicit PrunableLayerImpl(const LayerOptions& options);

  torch::Tensor forward(const torch::Tensor& x);

  const LayerOptions& options() const { return options_; }
  LayerKind kind() const { return options_.kind; }
  bool is_output() const { return options_.output_layer; }
  int64_t num_units() const { return options_.out; }
  // Weights feeding one unit: in/groups * kernel^2 (conv) or in (linear).
  int64_t weights_per_unit() const;
  int64_t num_weights() const { return num_units() * weights_per_unit(); }

  torch::Tensor& weight() { return weight_; }
  torch::Tensor& bias() { return bias_; }            // undefined without bias
  torch::Tensor& unit_mask() { return unit_mask_; }  // float [out]; 1 keep, 0 pruned
  const torch::Tensor& weight() const { return weight_; }
  const torch::Tensor& unit_mask() const { return unit_mask_; }
  // float, shape of weight. Until something writes it, it is ones held as a read-only
  // broadcast view of a single 1: unit pruning (Fine-Pruning) never writes it, and a
  // weight-sized tensor of ones per layer doubled a model's memory.
  const torch::Tensor& weight_mask() const { return weight_mask_; }
  // The weight mask to write in place: made a tensor of its own first (still ones).
  torch::Tensor& mutable_weight_mask();
  // Sets the weight mask to `mask`'s values; a view of ones (weight_mask_copy) keeps it one.
  void set_weight_mask(const torch::Tensor& mask);
  // A copy of the weight mask that later writes to the layer do not change: another view of
  // ones while it is one, a clone otherwise.
  torch::Tensor weight_mask_copy() const;
  torch::Tensor& class_ids() { return class_ids_; }  // int64 [out]; compact classifiers only
  const torch::Tensor& class_ids() const { return class_ids_; }
  torch::nn::BatchNorm2d& batch_norm() { return bn2d_; }
  torch::nn::BatchNorm1d& batch_norm1d() { return bn1d_; }

  // weight * weight_mask * unit_mask: the weights that really act.
  torch::Tensor effective_weight() const;
  // weight * weight_mask: the weights themselves (not a copy) while the mask is all ones.
  torch::Tensor masked_weight();
  // Weights that are zero in effective_weight(): per unit (int64 [units]) and in all. One pass
  // over float weights without temporaries (the selector and the MAC counts ask per candidate).
  torch::Tensor zeroed_weights_per_unit() const;
  int64_t num_zeroed_weights() const;
  int64_t num_active_units() const;
  // Input channel (or feature) that weight column `j` of unit `o` reads (grouped convs).
  int64_t input_channel_of(int64_t unit, int64_t j) const;

  // Output positions per sample seen in the last forward (H*W for conv, 1 for linear):
  // what turns weights into multiply-accumulates.
  int64_t output_positions() const { return output_positions_; }
  // Multiply-accumulates per sample: all weights, or only non-zero effective weights.
  int64_t macs_dense() const;
  int64_t macs_effective() const;

  // Inference-only compact layers: multiplies the masks into the weights (a pruned hidden
  // unit gets zero weights, bias and BatchNorm scale and shift, so its output is still
  // exactly zero), makes weight_mask ones (held as a view, weight_mask()) and makes forward()
  // skip the masks, so it runs as a plain layer. Later mask edits are ignored: prune the
  // masked model instead.
  void fold_masks();
  bool folded() const { return folded_; }

  // Attach (or, with nullptr, detach) the statistics accumulator for this layer.
  void set_recorder(ActivationStats* stats) { recorder_ = stats; }

 private:
  LayerOptions options_;
  torch::Tensor weight_, bias_, unit_mask_, weight_mask_, class_ids_;
  torch::nn::BatchNorm2d bn2d_{nullptr};
  torch::nn::BatchNorm1d bn1d_{nullptr};
  ActivationStats* recorder_ = nullptr;
  int64_t output_positions_ = 1;
  bool folded_ = false;

  // Whether a mask is all ones, remembered against the tensor and its version counter
  // (every in-place edit bumps it; artifact loading bumps it after its memcpy): forward()
  // skips multiplying by a mask of ones, 16-18% of an inference pass over an unpruned CNN
  // or MobileNetV2 (docs/BENCHMARKS.md). Multiplying by ones is exact: no result changes.
  struct OnesCheck {
    torch::Tensor seen;
    int64_t version = -1;
    bool ones = false;
  };
  static bool all_ones(const torch::Tensor& mask, OnesCheck& check);
  OnesCheck unit_mask_ones_, weight_mask_ones_;

  // The weights and bias with an evaluating BatchNorm folded in (forward()), and the
  // tensors they were folded from with their version counters: valid while those are the
  // same tensors, unchanged (a mask edit, a BatchNorm update or a load bumps a counter).
  struct FoldedBatchNorm {
    std::vector<torch::Tensor> sources;
    std::vector<int64_t> versions;
    torch::Tensor weight, bias;
    bool matches(const std::vector<torch::Tensor>& now) const;
    void keep(const std::vector<torch::Tensor>& now, const torch::Tensor& w,
              const torch::Tensor& b);
  };
  FoldedBatchNorm folded_bn_;
};
TORCH_MODULE(PrunableLayer);

// How new PrunableLayers' weights start on this thread, while a WeightInitScope is alive:
//   kZero  zeros, for models whose every parameter is overwritten at once (an artifact
//          loaded, a clone, a compact model): drawing He-initialised weights cost more than
//          the copy that replaces them (a third of compacting a ResNet), and would advance
//          LibTorch's global generator for nothing (model_factory.h's build_model_to_overwrite);
//   kMeta  meta tensors, shapes without memory: a model so built tells the bytes a spec's
//          model takes before any is allocated (the artifact loader's check of a payload: a
//          108 KB artifact whose spec named a 4 GB model had every loader allocate and zero it
//          before its tensors were compared).
enum class WeightInit { kRandom, kZero, kMeta };

class WeightInitScope {
 public:
  explicit WeightInitScope(WeightInit init);
  ~WeightInitScope();
  WeightInitScope(const WeightInitScope&) = delete;
  WeightInitScope& operator=(const WeightInitScope&) = delete;

 private:
  WeightInit was_;
};

}  // namespace fp
