// PrunableNet: the base of every model in the zoo. A subclass builds its topology
// from PrunableLayers registered through add_layer(), in forward order, so the
// engine can walk every prunable unit without knowing the architecture.
//
// A subclass also declares its channel spaces: which layers write a tensor's channels
// and which read them. That is all compaction (models/compact.h) needs to remove a
// pruned unit together with the input columns that read it.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "models/prunable_layer.h"

namespace fp {

// The channels of one tensor between layers. Its value is the sum of its producers'
// masked outputs (a residual stream has several), optionally passed channel-wise
// through one depthwise conv; every reader reads that value as its input.
struct ChannelSpace {
  std::vector<size_t> producers;  // layer indices
  int64_t depthwise = -1;         // layer index of a depthwise conv applied to it, or -1
  std::vector<size_t> readers;    // layer indices
  // A linear reader after a flatten sees each channel as this many adjacent features.
  int64_t positions = 1;
  bool fixed = false;  // a topology compaction does not handle: every channel is kept
};

class PrunableNet : public torch::nn::Module {
 public:
  explicit PrunableNet(ModelSpec spec) : spec_(std::move(spec)) {}
  virtual ~PrunableNet() = default;

  // Logits [N, num_classes]. Models with segments need not override it: by default it runs
  // every segment (forward_layers).
  virtual torch::Tensor forward(torch::Tensor x);

  // The network in segments, each reading one tensor, the previous segment's output: a
  // layer of a sequential model (MLP, CNN, VGG: pooling and flattening are channel-wise
  // steps inside a segment), a residual block reading the stream, a stem, a head. Segment k
  // starts at layer segment_starts()[k] (0 first, increasing); empty: the model does not run
  // in parts. forward_layers(x, from, to) takes what the segment starting at layer `from`
  // reads (from = 0: the model's input) and returns what the one starting at `to` reads
  // (to = layers().size(): the logits); forward() is forward_layers(x, 0, layers().size()).
  // The sparsity selector starts a candidate at the segment its first change is in.
  const std::vector<size_t>& segment_starts() const { return segment_starts_; }
  torch::Tensor forward_layers(torch::Tensor x, size_t from, size_t to);

  const ModelSpec& spec() const { return spec_; }
  // Every prunable layer in forward order; the last one is the output layer.
  const std::vector<PrunableLayer>& layers() const { return layers_; }
  const std::vector<std::string>& layer_names() const { return layer_names_; }
  PrunableLayer find_layer(const std::string& name) const;  // empty holder if absent
  const std::vector<ChannelSpace>& channel_spaces() const { return spaces_; }

 protected:
  PrunableLayer add_layer(const std::string& name, const LayerOptions& options);
  // The units the next add_layer() call gets: spec().widths for compact models, else
  // `published`.
  int64_t unit_count(int64_t published) const;
  // The output layer over `in` features (compact: the kept classes, mapped back).
  PrunableLayer add_classifier(const std::string& name, int64_t in);

  // Channel spaces (see ChannelSpace); layers are passed as the holders add_layer returned.
  size_t add_space(const PrunableLayer& producer);
  void add_producer(size_t space, const PrunableLayer& layer);
  void add_reader(size_t space, const PrunableLayer& layer);
  void set_depthwise(size_t space, const PrunableLayer& layer);
  void set_fixed(size_t space) { spaces_.at(space).fixed = true; }
  // A one-producer, one-reader space (a plain chain).
  void link(const PrunableLayer& from, const PrunableLayer& to, int64_t positions = 1);

  // Once all layers are added: the first layer of each segment (see segment_starts()).
  void set_segments(std::vector<size_t> starts);
  void set_segment_per_layer();  // a sequential model
  // Runs segment k on what it reads and returns what the next one reads (the logits after
  // the last). Models with segments override it.
  virtual torch::Tensor segment_step(size_t k, torch::Tensor x);

 private:
  size_t index_of(const PrunableLayer& layer) const;

  ModelSpec spec_;
  std::vector<PrunableLayer> layers_;
  std::vector<std::string> layer_names_;
  std::vector<ChannelSpace> spaces_;
  std::vector<size_t> segment_starts_;
};

using ModelPtr = std::shared_ptr<PrunableNet>;

// Puts a model in eval mode for a scope and gives it back its training mode when the scope
// ends, also when a forward pass inside throws (a model left in eval mode would fine-tune
// with BatchNorm's running statistics frozen).
class EvalModeScope {
 public:
  explicit EvalModeScope(torch::nn::Module& model)
      : model_(model), was_training_(model.is_training()) {
    model_.eval();
  }
  ~EvalModeScope() { model_.train(was_training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  torch::nn::Module& model_;
  bool was_training_;
};

}  // namespace fp
