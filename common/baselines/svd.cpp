#include "baselines/svd.h"

#include <algorithm>

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
