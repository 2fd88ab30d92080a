#include "prune/activation_stats.h"

namespace fp {
namespace {

// Dimensions to reduce over so that one value per channel remains: batch and space.
std::vector<int64_t> channel_reduce_dims(const torch::Tensor& t) {
  if (t.dim() == 4) return {0, 2, 3};
  return {0};
}

int64_t observations_per_channel(const torch::Tensor& t) {
  return t.dim() == 4 ? t.size(0) * t.size(2) * t.size(3) : t.size(0);
}

void add_into(torch::Tensor& acc, const torch::Tensor& v) {
  if (acc.defined())
    acc += v;
  else
    acc = v.clone();
}

}  // namespace

void ActivationStats::accumulate(const torch::Tensor& output, const torch::Tensor& input,
                                 bool softmax_output) {
  const auto dims = channel_reduce_dims(output);
  // A softmax unit "fires" when its probability beats the uniform 1/C.
  const double threshold = softmax_output ? 1.0 / static_cast<double>(output.size(1)) : 0.0;
  // Per-batch sums in float32 (cheap, exact enough over one batch), accumulated in float64.
  add_into(sum, output.sum(dims).to(torch::kDouble));
  add_into(sum_sq, output.square().sum(dims).to(torch::kDouble));
  add_into(positive, (output > threshold).sum(dims).to(torch::kDouble));
  count += observations_per_channel(output);
  samples += output.size(0);
  if (track_inputs && input.defined()) {
    add_into(in_sum_sq, input.square().sum(channel_reduce_dims(input)).to(torch::kDouble));
    add_into(in_sum, input.sum(channel_reduce_dims(input)).to(torch::kDouble));
    in_count += observations_per_channel(input);
  }
}

torch::Tensor ActivationStats::mean() const { return sum / static_cast<double>(count); }
torch::Tensor ActivationStats::energy() const { return sum_sq / static_cast<double>(count); }
torch::Tensor ActivationStats::firing_rate() const { return positive / static_cast<double>(count); }
torch::Tensor ActivationStats::input_energy() const {
  return in_sum_sq / static_cast<double>(in_count);
}

torch::Tensor ActivationStats::input_mean() const { return in_sum / static_cast<double>(in_count); }

}  // namespace fp
