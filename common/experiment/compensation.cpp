#include "experiment/compensation.h"

namespace fp {

Result<CompensationReport> compensate_pruned_means(PrunableNet& pruned,
                                                   const LayerStats& dense_stats,
                                                   const torch::Tensor& inputs,
                                                   int64_t batch_size) {
  CompensationReport report;
  LayerStats now = record_activations(pruned, inputs, batch_size, /*with_input_energy=*/true);
  report.forward_samples = inputs.size(0);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < pruned.layers().size(); ++i) {
    const std::string& name = pruned.layer_names()[i];
    auto dense = dense_stats.find(name);
    auto after = now.find(name);
    if (dense == dense_stats.end() || after == now.end() || !dense->second.in_sum.defined() ||
        !after->second.in_sum_sq.defined())
      return Status::invalid_argument("compensation: no input statistics for layer '" + name +
                                      "' (record the dense model with input statistics)");
    // Channels that are exactly zero now, with the mean they had in the dense model.
    auto vanished = after->second.in_sum_sq == 0;
    auto delta = torch::where(vanished, dense->second.input_mean(),
                              torch::zeros_like(dense->second.input_mean()));
    const int64_t folded = (vanished & (delta != 0)).sum().item<int64_t>();
    if (folded == 0) continue;
    PrunableLayer layer = pruned.layers()[i];
    const auto& o = layer->options();
    auto w = layer->effective_weight().detach().to(torch::kDouble);
    torch::Tensor per_input = w.dim() == 4 ? w.sum({2, 3}) : w;  // [out, in/groups]
    const int64_t groups = o.kind == LayerKind::kConv ? o.groups : 1;
    auto group = torch::arange(o.out, torch::kLong).div(o.out / groups, "floor");
    auto delta_per_unit = delta.view({groups, -1}).index_select(0, group);  // [out, in/groups]
    auto shift = (per_input * delta_per_unit).sum(1);
    if (o.batch_norm) {
      auto& mean = o.kind == LayerKind::kConv ? layer->batch_norm()->running_mean
                                              : layer->batch_norm1d()->running_mean;
      mean.sub_(shift.to(mean.scalar_type()));
    } else if (layer->bias().defined()) {
      layer->bias().add_(shift.to(layer->bias().scalar_type()));
    } else {
      continue;  // nothing to fold into
    }
    ++report.layers_adjusted;
    report.channels_folded += folded;
  }
  return report;
}

}  // namespace fp
