#include "prune/activation_recorder.h"

namespace fp {
namespace {

// Detaches the recorders and restores the training mode even if forward() throws.
class RecordingScope {
 public:
  RecordingScope(PrunableNet& model, LayerStats& stats, bool with_input_energy)
      : model_(model), was_training_(model.is_training()) {
    const auto& names = model.layer_names();
    for (size_t i = 0; i < names.size(); ++i) {
      ActivationStats& s = stats[names[i]];
      s.track_inputs = with_input_energy;
      PrunableLayer layer = model.layers()[i];
      layer->set_recorder(&s);
    }
    model.eval();
  }
  ~RecordingScope() {
    for (PrunableLayer layer : model_.layers()) layer->set_recorder(nullptr);
    model_.train(was_training_);
  }

 private:
  PrunableNet& model_;
  bool was_training_;
};

}  // namespace

LayerStats record_activations(PrunableNet& model, const torch::Tensor& inputs, int64_t batch_size,
                              bool with_input_energy, torch::Tensor* logits) {
  TORCH_CHECK(batch_size > 0, "record_activations: batch_size must be positive");
  LayerStats stats;
  RecordingScope scope(model, stats, with_input_energy);
  torch::NoGradGuard no_grad;
  const int64_t n = inputs.size(0);
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < n; start += batch_size) {
    auto out = model.forward(inputs.slice(0, start, std::min(n, start + batch_size)));
    if (logits) outputs.push_back(out);
  }
  if (logits && !outputs.empty()) *logits = torch::cat(outputs);
  return stats;
}

}  // namespace fp
