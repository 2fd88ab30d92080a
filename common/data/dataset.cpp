#include "data/dataset.h"

#include <stdexcept>
#include <string>

namespace fp {
namespace {

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  if (!t.defined()) return {};
  torch::Tensor flat = t.to(torch::kCPU, torch::kLong).contiguous().view(-1);
  const int64_t* p = flat.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + flat.numel());
}

}  // namespace

Dataset Dataset::select(const std::vector<int64_t>& indices) const {
  const int64_t n = size();
  for (int64_t i : indices) {
    // Checked here so the message names the dataset row, not a torch internal.
    if (i < 0 || i >= n) {
      throw std::out_of_range("Dataset::select: index " + std::to_string(i) + " outside [0, " +
                              std::to_string(n) + ")");
    }
  }
  Dataset out;
  out.class_names = class_names;
  out.group_names = group_names;
  if (!inputs.defined()) return out;
  torch::Tensor idx =
      torch::tensor(indices, torch::TensorOptions().dtype(torch::kLong)).to(inputs.device());
  out.inputs = inputs.index_select(0, idx);
  if (labels.defined()) out.labels = labels.index_select(0, idx.to(labels.device()));
  if (groups.defined()) out.groups = groups.index_select(0, idx.to(groups.device()));
  return out;
}

Dataset Dataset::without_labels() const {
  Dataset out = *this;
  out.labels = torch::Tensor();
  return out;
}

std::vector<int64_t> Dataset::label_vector() const { return to_vector(labels); }

std::vector<int64_t> Dataset::group_vector() const { return to_vector(groups); }

std::pair<Dataset, Dataset> split_at(const Dataset& data, int64_t first_count) {
  const int64_t n = data.size();
  if (first_count < 0 || first_count > n) {
    throw std::out_of_range("split_at: first_count " + std::to_string(first_count) +
                            " outside [0, " + std::to_string(n) + "]");
  }
  auto part = [&](int64_t begin, int64_t end) {
    Dataset d;
    d.class_names = data.class_names;
    d.group_names = data.group_names;
    if (data.inputs.defined()) d.inputs = data.inputs.slice(0, begin, end);
    if (data.labels.defined()) d.labels = data.labels.slice(0, begin, end);
    if (data.groups.defined()) d.groups = data.groups.slice(0, begin, end);
    return d;
  };
  return {part(0, first_count), part(first_count, n)};
}

}  // namespace fp
