#include "models/prunable_net.h"

namespace fp {

PrunableLayer PrunableNet::add_layer(const std::string& name, const LayerOptions& options) {
  auto layer = register_module(name, PrunableLayer(options));
  layers_.push_back(layer);
  layer_names_.push_back(name);
  return layer;
}

PrunableLayer PrunableNet::find_layer(const std::string& name) const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layer_names_[i] == name) return layers_[i];
  return PrunableLayer(nullptr);
}

}  // namespace fp
