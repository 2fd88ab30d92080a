// ModelSpec: the serializable architecture description every model is built from.
// It travels in model artifacts and task assignments, so it needs no torch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

// How raw files become this model's input, so a device turns its own files into
// exactly what the general model was trained on. Travels inside the spec: the
// coordinator and every device read the same numbers.
struct InputSpec {
  std::string kind;  // "" (not recorded: built-in data sets only), "image" or "log_mel"
  // image: pixels scaled to [0, 1], resized to the spec's height x width, converted to
  // its channel count, then (x - mean) / std.
  double mean = 0.0, std = 1.0;
  // log_mel: audio resampled to sample_rate, then data/log_mel.h with these settings
  // (n_mels and frames are the spec's height and width).
  int64_t sample_rate = 8000, n_fft = 256, hop_length = 128;

  bool operator==(const InputSpec& o) const;
};

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
  InputSpec input;
  // Names of the classes, when known ("" entries allowed); empty: ids only.
  std::vector<std::string> class_names;

  Status validate() const;
  std::string to_json() const;
  static Result<ModelSpec> from_json(const std::string& json);
  bool operator==(const ModelSpec& o) const;
};

const std::vector<std::string>& known_architectures();
// "'<arch>' is unknown (known: mlp, cnn, ...)" for an architecture none of those names, or ""
// when it is one: the words a configuration's error ends with.
std::string unknown_architecture(const std::string& arch);

}  // namespace fp
