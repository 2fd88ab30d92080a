// The model zoo: one constructor per architecture family. Use build_model(spec)
// (model_factory.h) rather than these directly; each assumes a validated spec.
#pragma once

#include "models/prunable_net.h"

namespace fp {

ModelPtr make_mlp(const ModelSpec& spec);          // "mlp": 2 hidden layers
ModelPtr make_cnn(const ModelSpec& spec);          // "cnn": 2 conv + 2 linear
ModelPtr make_vgg(const ModelSpec& spec);          // "vgg7", "vgg11", "vgg19"
ModelPtr make_resnet(const ModelSpec& spec);       // "resnet18", "resnet50"
ModelPtr make_mobilenetv2(const ModelSpec& spec);  // "mobilenetv2"

// Channels scaled by the width multiplier, never below 1.
int64_t scaled_channels(int64_t channels, double width_mult);

}  // namespace fp
