// Dataset: inputs with optional labels and group ids (speaker, writer, ...).
// Individuals are index lists into one pool Dataset (see partition.h).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace fp {

struct Dataset {
  torch::Tensor inputs;  // float32 [N, C, H, W] (or [N, F] for flat features)
  torch::Tensor labels;  // int64 [N]; undefined when the data are unlabeled
  torch::Tensor groups;  // int64 [N]; undefined when there is no natural grouping
  std::vector<std::string> class_names;
  std::vector<std::string> group_names;

  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
  bool has_labels() const { return labels.defined(); }
  bool has_groups() const { return groups.defined(); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }

  // Rows `indices` of every tensor (names are kept).
  Dataset select(const std::vector<int64_t>& indices) const;
  // The same inputs with labels dropped: what a device's Fine-Pruning sees.
  Dataset without_labels() const;
  // Labels / groups as plain vectors (for partitioners, which need no torch).
  std::vector<int64_t> label_vector() const;
  std::vector<int64_t> group_vector() const;
};

// Splits `data` in two at row `first_count` (used for hold-outs and general/individual splits).
std::pair<Dataset, Dataset> split_at(const Dataset& data, int64_t first_count);

}  // namespace fp
