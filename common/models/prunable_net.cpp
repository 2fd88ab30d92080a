#include "models/prunable_net.h"

#include <algorithm>

namespace fp {

PrunableLayer PrunableNet::add_layer(const std::string& name, const LayerOptions& options) {
  auto layer = register_module(name, PrunableLayer(options));
  layers_.push_back(layer);
  layer_names_.push_back(name);
  return layer;
}

int64_t PrunableNet::unit_count(int64_t published) const {
  if (!spec_.is_compact()) return published;
  TORCH_CHECK(layers_.size() < spec_.widths.size(), "model spec: ", spec_.widths.size(),
              " widths for an architecture with more prunable layers");
  return spec_.widths[layers_.size()];
}

PrunableLayer PrunableNet::add_classifier(const std::string& name, int64_t in) {
  LayerOptions o = classifier_options(in, unit_count(spec_.num_classes));
  if (spec_.is_compact()) {
    TORCH_CHECK(spec_.widths.size() == layers_.size() + 1, "model spec: ", spec_.widths.size(),
                " widths for an architecture with ", layers_.size() + 1, " prunable layers");
    TORCH_CHECK(o.out <= spec_.num_classes, "model spec: the classifier keeps ", o.out, " of ",
                spec_.num_classes, " classes");
    o.class_space = spec_.num_classes;
  }
  return add_layer(name, o);
}

size_t PrunableNet::index_of(const PrunableLayer& layer) const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i].get() == layer.get()) return i;
  TORCH_CHECK(false, "PrunableNet: layer is not registered");
}

size_t PrunableNet::add_space(const PrunableLayer& producer) {
  spaces_.emplace_back();
  add_producer(spaces_.size() - 1, producer);
  return spaces_.size() - 1;
}

void PrunableNet::add_producer(size_t space, const PrunableLayer& layer) {
  spaces_.at(space).producers.push_back(index_of(layer));
}

void PrunableNet::add_reader(size_t space, const PrunableLayer& layer) {
  spaces_.at(space).readers.push_back(index_of(layer));
}

void PrunableNet::set_depthwise(size_t space, const PrunableLayer& layer) {
  spaces_.at(space).depthwise = static_cast<int64_t>(index_of(layer));
}

void PrunableNet::link(const PrunableLayer& from, const PrunableLayer& to, int64_t positions) {
  const size_t s = add_space(from);
  add_reader(s, to);
  spaces_[s].positions = positions;
}

PrunableLayer PrunableNet::find_layer(const std::string& name) const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layer_names_[i] == name) return layers_[i];
  return PrunableLayer(nullptr);
}

torch::Tensor PrunableNet::forward(torch::Tensor x) {
  return forward_layers(std::move(x), 0, layers_.size());
}

void PrunableNet::set_segments(std::vector<size_t> starts) {
  TORCH_CHECK(!starts.empty() && starts.front() == 0 &&
                  std::is_sorted(starts.begin(), starts.end()) &&
                  std::adjacent_find(starts.begin(), starts.end()) == starts.end() &&
                  starts.back() < layers_.size(),
              "set_segments: segments must start at increasing layers from 0");
  segment_starts_ = std::move(starts);
}

void PrunableNet::set_segment_per_layer() {
  std::vector<size_t> starts(layers_.size());
  for (size_t i = 0; i < starts.size(); ++i) starts[i] = i;
  set_segments(std::move(starts));
}

torch::Tensor PrunableNet::forward_layers(torch::Tensor x, size_t from, size_t to) {
  TORCH_CHECK(!segment_starts_.empty(), "forward_layers: ", spec_.arch, " does not run in parts");
  const auto& s = segment_starts_;
  auto first = std::lower_bound(s.begin(), s.end(), from);
  auto last = std::lower_bound(s.begin(), s.end(), to);
  TORCH_CHECK(from <= to && (from == layers_.size() || (first != s.end() && *first == from)) &&
                  (to == layers_.size() || (last != s.end() && *last == to)),
              "forward_layers: layers ", from, " to ", to, " of ", layers_.size(),
              " are not segment starts");
  for (auto k = first; k != last; ++k) x = segment_step(k - s.begin(), std::move(x));
  return x;
}

torch::Tensor PrunableNet::segment_step(size_t, torch::Tensor) {
  TORCH_CHECK(false, "segment_step: ", spec_.arch, " does not run in parts");
}

}  // namespace fp
