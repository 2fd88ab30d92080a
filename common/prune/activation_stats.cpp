#include "prune/activation_stats.h"

#include <ATen/Parallel.h>

namespace fp {
namespace {

int64_t observations_per_channel(const torch::Tensor& t) {
  return t.dim() == 4 ? t.size(0) * t.size(2) * t.size(3) : t.size(0);
}

torch::Tensor& zeros_if_undefined(torch::Tensor& acc, int64_t channels) {
  if (!acc.defined()) acc = torch::zeros({channels}, torch::kDouble);
  return acc;
}

// One pass over `t` ([N,C,H,W] or [N,C]) that adds, per channel, the sum, the sum of
// squares and (with `positive`) the count of values above `threshold` into float64
// accumulators: the three statistics together, where separate reductions read the
// tensor three times and allocate its square and its comparison.
void add_channel_moments(const torch::Tensor& t, double threshold, torch::Tensor& sum,
                         torch::Tensor& sum_sq, torch::Tensor* positive) {
  const torch::Tensor x = t.detach().to(torch::kFloat).contiguous();
  const int64_t n = x.size(0), c = x.size(1);
  const int64_t positions = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  double* s = zeros_if_undefined(sum, c).data_ptr<double>();
  double* q = zeros_if_undefined(sum_sq, c).data_ptr<double>();
  double* p = positive ? zeros_if_undefined(*positive, c).data_ptr<double>() : nullptr;
  const float* data = x.data_ptr<float>();
  const float thr = static_cast<float>(threshold);
  // Channels are independent: split them over threads (each owns its accumulators).
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, n * positions));
  at::parallel_for(0, c, grain, [&](int64_t begin, int64_t end) {
    if (positions == 1) {  // [N,C]: rows outer, so the inner loop reads contiguously
      for (int64_t i = 0; i < n; ++i) {
        const float* v = data + i * c;
        for (int64_t ch = begin; ch < end; ++ch) {
          const double a = v[ch];
          s[ch] += a;
          q[ch] += a * a;
          if (p) p[ch] += v[ch] > thr ? 1.0 : 0.0;
        }
      }
      return;
    }
    for (int64_t ch = begin; ch < end; ++ch) {
      // Four independent partial sums: no add waits for the previous one.
      double cs[4] = {0, 0, 0, 0}, cq[4] = {0, 0, 0, 0};
      int64_t cp = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float* v = data + (i * c + ch) * positions;
        int64_t k = 0;
        for (; k + 4 <= positions; k += 4) {
          for (int j = 0; j < 4; ++j) {
            const double a = v[k + j];
            cs[j] += a;
            cq[j] += a * a;
            cp += v[k + j] > thr;
          }
        }
        for (; k < positions; ++k) {
          const double a = v[k];
          cs[0] += a;
          cq[0] += a * a;
          cp += v[k] > thr;
        }
      }
      s[ch] += (cs[0] + cs[1]) + (cs[2] + cs[3]);
      q[ch] += (cq[0] + cq[1]) + (cq[2] + cq[3]);
      if (p) p[ch] += static_cast<double>(cp);
    }
  });
}

}  // namespace

void ActivationStats::accumulate(const torch::Tensor& output, const torch::Tensor& input,
                                 bool softmax_output) {
  TORCH_CHECK(output.dim() == 2 || output.dim() == 4,
              "ActivationStats: outputs must be [N,C] or [N,C,H,W]");
  // A softmax unit "fires" when its probability beats the uniform 1/C.
  const double threshold = softmax_output ? 1.0 / static_cast<double>(output.size(1)) : 0.0;
  add_channel_moments(output, threshold, sum, sum_sq, &positive);
  count += observations_per_channel(output);
  samples += output.size(0);
  if (track_inputs && input.defined()) {
    TORCH_CHECK(input.dim() == 2 || input.dim() == 4,
                "ActivationStats: inputs must be [N,C] or [N,C,H,W]");
    add_channel_moments(input, 0.0, in_sum, in_sum_sq, nullptr);
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
