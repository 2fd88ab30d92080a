#include "prune/activation_recorder.h"

#include <algorithm>
#include <optional>

namespace fp {
namespace {

// Detaches the recorders even if forward() throws.
class RecordingScope {
 public:
  RecordingScope(PrunableNet& model, LayerStats& stats, bool with_input_energy) : model_(model) {
    const auto& names = model.layer_names();
    for (size_t i = 0; i < names.size(); ++i) {
      ActivationStats& s = stats[names[i]];
      s.track_inputs = with_input_energy;
      PrunableLayer layer = model.layers()[i];
      layer->set_recorder(&s);
    }
  }
  ~RecordingScope() {
    for (PrunableLayer layer : model_.layers()) layer->set_recorder(nullptr);
  }

 private:
  PrunableNet& model_;
};

// Collects TailInputs over the batches that reach the tail.
class TailCollector {
 public:
  TailCollector(TailInputs& tail, size_t layers, int64_t samples)
      : tail_(tail), parts_(layers), rows_(samples - tail.from) {}

  // One batch [start, start + rows of x), run segment by segment; its logits.
  torch::Tensor forward(PrunableNet& model, torch::Tensor x, int64_t start) {
    const int64_t skip = std::max<int64_t>(0, tail_.from - start);
    const auto& starts = model.segment_starts();
    for (size_t k = 0; k < starts.size(); ++k) {
      const size_t i = starts[k];
      // Copies of the tail's rows, so the batch's tensors are freed as the pass goes on.
      if (k > 0 && (!decided_ || keep_[i])) parts_[i].push_back(x.slice(0, skip).clone());
      x = model.forward_layers(std::move(x), i,
                               k + 1 < starts.size() ? starts[k + 1] : parts_.size());
    }
    if (!decided_) decide();
    return x;
  }

  void finish() {
    tail_.layer_inputs.assign(parts_.size(), torch::Tensor());
    for (size_t i = 0; i < parts_.size(); ++i)
      if (!parts_[i].empty())
        tail_.layer_inputs[i] = parts_[i].size() == 1 ? parts_[i][0] : torch::cat(parts_[i]);
  }

 private:
  // After the first batch: which segments' inputs fit the budget, the last ones first
  // (the later a candidate may start, the more it saves; their inputs are the smallest).
  void decide() {
    keep_.assign(parts_.size(), false);
    int64_t bytes = 0;
    for (size_t i = parts_.size(); i-- > 1;) {
      if (parts_[i].empty()) continue;  // not a segment's first layer
      const torch::Tensor& t = parts_[i].front();
      const int64_t per_row = t.size(0) ? t.numel() / t.size(0) * t.element_size() : 0;
      if (bytes + per_row * rows_ > tail_.budget_bytes) break;
      bytes += per_row * rows_;
      keep_[i] = true;
    }
    for (size_t i = 0; i < parts_.size(); ++i)
      if (!keep_[i]) parts_[i].clear();
    decided_ = true;
  }

  TailInputs& tail_;
  std::vector<std::vector<torch::Tensor>> parts_;  // per layer (segment starts), per batch
  std::vector<bool> keep_;
  int64_t rows_;
  bool decided_ = false;
};

}  // namespace

LayerStats record_activations(PrunableNet& model, const torch::Tensor& inputs, int64_t batch_size,
                              bool with_input_energy, torch::Tensor* logits, TailInputs* tail) {
  TORCH_CHECK(batch_size > 0, "record_activations: batch_size must be positive");
  const int64_t n = inputs.size(0);
  if (tail) {
    TORCH_CHECK(tail->from >= 0 && tail->from < n, "record_activations: the tail starts at ",
                tail->from, " of ", n, " samples");
    tail->layer_inputs.clear();
  }
  LayerStats stats;
  RecordingScope scope(model, stats, with_input_energy);
  EvalModeScope eval_mode(model);
  torch::NoGradGuard no_grad;
  std::optional<TailCollector> collector;
  if (tail && !model.segment_starts().empty()) collector.emplace(*tail, model.layers().size(), n);
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < n; start += batch_size) {
    auto batch = inputs.slice(0, start, std::min(n, start + batch_size));
    auto out = collector && start + batch.size(0) > tail->from
                   ? collector->forward(model, std::move(batch), start)
                   : model.forward(std::move(batch));
    if (logits) outputs.push_back(out);
  }
  if (logits && !outputs.empty()) *logits = torch::cat(outputs);
  if (collector) collector->finish();
  return stats;
}

}  // namespace fp
