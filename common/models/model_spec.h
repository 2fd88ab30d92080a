// ModelSpec: the serializable architecture description every model is built from.
// It travels in model artifacts and task assignments, so it needs no torch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

struct ModelSpec {
  // "mlp", "cnn", "vgg7", "vgg11", "vgg19", "resnet18", "resnet50", "mobilenetv2".
  std::string arch = "cnn";
  int64_t in_channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  int64_t num_classes = 10;
  // Scales every layer's channel count (rounded, at least 1) so the paper's
  // topologies train on a CPU; 1.0 is the published width.
  double width_mult = 1.0;
  // Compact models only (models/compact.h): the number of units of every prunable
  // layer, in layer order, after pruned units were removed. Empty: the published
  // topology at width_mult. A spec with widths builds an inference-only model whose
  // classifier maps its outputs back to the num_classes original class ids.
  std::vector<int64_t> widths;

  bool is_compact() const { return !widths.empty(); }

  Status validate() const;
  std::string to_json() const;
  static Result<ModelSpec> from_json(const std::string& json);
  bool operator==(const ModelSpec& o) const;
};

const std::vector<std::string>& known_architectures();

}  // namespace fp
