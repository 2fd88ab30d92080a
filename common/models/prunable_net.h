// PrunableNet: the base of every model in the zoo. A subclass builds its topology
// from PrunableLayers registered through add_layer(), in forward order, so the
// engine can walk every prunable unit without knowing the architecture.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "models/prunable_layer.h"

namespace fp {

class PrunableNet : public torch::nn::Module {
 public:
  explicit PrunableNet(ModelSpec spec) : spec_(std::move(spec)) {}
  virtual ~PrunableNet() = default;

  // Logits [N, num_classes].
  virtual torch::Tensor forward(torch::Tensor x) = 0;

  const ModelSpec& spec() const { return spec_; }
  // Every prunable layer in forward order; the last one is the output layer.
  const std::vector<PrunableLayer>& layers() const { return layers_; }
  const std::vector<std::string>& layer_names() const { return layer_names_; }
  PrunableLayer find_layer(const std::string& name) const;  // empty holder if absent

 protected:
  PrunableLayer add_layer(const std::string& name, const LayerOptions& options);

 private:
  ModelSpec spec_;
  std::vector<PrunableLayer> layers_;
  std::vector<std::string> layer_names_;
};

using ModelPtr = std::shared_ptr<PrunableNet>;

}  // namespace fp
