#include "baselines/finetune.h"

namespace fp {

Result<TrainReport> finetune(PrunableNet& model, const Dataset& labeled_adaptation,
                             const FinetuneConfig& config,
                             const std::function<void(int64_t, double)>& on_epoch) {
  // Freezing is done through requires_grad, which train() respects.
  std::vector<std::pair<torch::Tensor, bool>> saved;
  if (config.last_layer_only) {
    for (auto& p : model.parameters()) saved.emplace_back(p, p.requires_grad());
    for (auto& p : model.parameters()) p.set_requires_grad(false);
    for (auto& p : model.layers().back()->parameters()) p.set_requires_grad(true);
  }
  auto report = train(model, labeled_adaptation, config.train, on_epoch);
  for (auto& [p, flag] : saved) p.set_requires_grad(flag);
  return report;
}

}  // namespace fp
