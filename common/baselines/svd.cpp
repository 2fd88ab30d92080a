#include "baselines/svd.h"

#include <algorithm>

#include "prune/cost.h"

namespace fp {
namespace {

int64_t rank_for(double fraction, int64_t rows, int64_t cols) {
  const int64_t full = std::min(rows, cols);
  return std::clamp<int64_t>(static_cast<int64_t>(fraction * full), 1, full);
}

// Parameters a rows x cols matrix costs at this rank: factorised, or dense when cheaper.
int64_t cost_at(double fraction, int64_t rows, int64_t cols) {
  return std::min(rank_for(fraction, rows, cols) * (rows + cols), rows * cols);
}

}  // namespace

Result<SvdReport> svd_compress(PrunableNet& model, int64_t target_parameters) {
  if (target_parameters <= 0) return Status::invalid_argument("svd: target_parameters must be > 0");
  torch::NoGradGuard no_grad;
  std::vector<std::pair<int64_t, int64_t>> shapes;
  SvdReport report;
  for (const auto& layer : model.layers()) {
    shapes.emplace_back(layer->num_units(), layer->weights_per_unit());
    report.dense_parameters += layer->num_weights();
  }
  auto total_at = [&](double f) {
    int64_t t = 0;
    for (auto [r, c] : shapes) t += cost_at(f, r, c);
    return t;
  };
  // The largest rank fraction whose parameter count fits the budget (bisection). The
  // bisection never tries 1.0 itself, where a wide layer (10 x 128) would otherwise lose
  // its last rank to a factorisation that happens to be cheaper than dense.
  double lo = total_at(1.0) <= target_parameters ? 1.0 : 0.0, hi = 1.0;
  for (int i = 0; i < 40 && lo < 1.0; ++i) {
    const double mid = (lo + hi) / 2;
    (total_at(mid) <= target_parameters ? lo : hi) = mid;
  }
  report.rank_fraction = lo;
  report.parameters = total_at(lo);
  for (auto layer : model.layers()) {  // holders by value: the layers are modified
    auto& w = layer->weight();
    const int64_t rows = layer->num_units(), cols = layer->weights_per_unit();
    const int64_t rank = rank_for(lo, rows, cols);
    if (rank * (rows + cols) >= rows * cols) continue;  // factorising would not save anything
    auto [u, s, vh] =
        torch::linalg::svd(w.reshape({rows, cols}).to(torch::kDouble), false, c10::nullopt);
    auto approx =
        u.slice(1, 0, rank).matmul(torch::diag(s.slice(0, 0, rank))).matmul(vh.slice(0, 0, rank));
    w.copy_(approx.to(w.scalar_type()).view_as(w));
  }
  return report;
}

}  // namespace fp

namespace fp {
namespace {

struct LayerSpectrum {
  int64_t rows = 0, cols = 0, positions = 1;
  bool truncatable = true;
  int64_t fixed_weights = 0;       // cost of a non-truncated layer: its live weights
  torch::Tensor u, s, vh;          // float64 SVD of the [rows, cols] weight
  std::vector<double> cumulative;  // share of energy in the first r+1 singular values
};

int64_t rank_for_energy(const LayerSpectrum& l, double energy) {
  for (size_t r = 0; r < l.cumulative.size(); ++r)
    if (l.cumulative[r] >= energy) return static_cast<int64_t>(r) + 1;
  return static_cast<int64_t>(l.cumulative.size());
}

// A layer's cost at `energy` (weights, times positions for MACs) and its rank (-1: dense).
std::pair<int64_t, int64_t> layer_cost(const LayerSpectrum& l, double energy, bool macs) {
  const int64_t scale = macs ? l.positions : 1;
  if (!l.truncatable) return {l.fixed_weights * scale, -1};
  const int64_t rank = rank_for_energy(l, energy);
  const int64_t factorised = rank * (l.rows + l.cols);
  if (factorised >= l.rows * l.cols) return {l.rows * l.cols * scale, -1};
  return {factorised * scale, rank};
}

}  // namespace

Result<SvdEnergyReport> svd_compress_by_energy(PrunableNet& model, const SvdConfig& config) {
  if (config.target <= 0) return Status::invalid_argument("svd: the budget must be > 0");
  torch::NoGradGuard no_grad;
  count_macs(model);  // one forward pass: every layer learns its output positions
  std::vector<LayerSpectrum> layers;
  SvdEnergyReport report;
  for (const auto& layer : model.layers()) {
    LayerSpectrum l;
    l.rows = layer->num_units();
    l.cols = layer->weights_per_unit();
    l.positions = layer->output_positions();
    l.truncatable = config.truncate_output_layer || !layer->is_output();
    l.fixed_weights = layer->num_weights() - layer->num_zeroed_weights();
    report.dense_parameters += l.truncatable ? l.rows * l.cols : l.fixed_weights;
    report.dense_macs += (l.truncatable ? l.rows * l.cols : l.fixed_weights) * l.positions;
    if (l.truncatable) {
      auto [u, s, vh] =
          torch::linalg::svd(layer->effective_weight().reshape({l.rows, l.cols}).to(torch::kDouble),
                             false, c10::nullopt);
      l.u = u;
      l.s = s;
      l.vh = vh;
      auto cum = (s * s).cumsum(0);
      const double total = cum[-1].item<double>();
      auto share = total > 0 ? (cum / total).contiguous() : torch::ones_like(cum);
      l.cumulative.assign(share.data_ptr<double>(), share.data_ptr<double>() + share.numel());
    }
    layers.push_back(std::move(l));
  }
  const bool macs = config.budget == SvdBudget::kMacs;
  auto total_at = [&](double energy) {
    int64_t t = 0;
    for (const auto& l : layers) t += layer_cost(l, energy, macs).first;
    return t;
  };
  const int64_t dense_cost = macs ? report.dense_macs : report.dense_parameters;
  if (config.target >= dense_cost) {
    report.identity = true;
    report.parameters = report.dense_parameters;
    report.macs = report.dense_macs;
    report.ranks.assign(layers.size(), -1);
    return report;
  }
  double lo = 0.0, hi = 1.0;  // the most energy whose cost fits (at 0: rank 1 everywhere)
  for (int i = 0; i < 50; ++i) {
    const double mid = (lo + hi) / 2;
    (total_at(mid) <= config.target ? lo : hi) = mid;
  }
  report.energy_kept = lo;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const int64_t rank = layer_cost(l, lo, false).second;
    report.ranks.push_back(rank);
    const int64_t weights = layer_cost(l, lo, false).first;
    report.parameters += weights;
    report.macs += weights * l.positions;
    if (rank < 0) continue;
    auto approx = l.u.slice(1, 0, rank)
                      .matmul(torch::diag(l.s.slice(0, 0, rank)))
                      .matmul(l.vh.slice(0, 0, rank));
    PrunableLayer layer = model.layers()[i];
    auto& w = layer->weight();
    w.copy_(approx.to(w.scalar_type()).view_as(w));
  }
  return report;
}

}  // namespace fp
