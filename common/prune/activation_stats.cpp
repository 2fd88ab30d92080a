#include "prune/activation_stats.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace fp {
namespace {

int64_t observations_per_channel(const torch::Tensor& t) {
  return t.dim() == 4 ? t.size(0) * t.size(2) * t.size(3) : t.size(0);
}

torch::Tensor& zeros_if_undefined(torch::Tensor& acc, int64_t channels) {
  if (!acc.defined()) acc = torch::zeros({channels}, torch::kDouble);
  return acc;
}

// One channel's sum, sum of squares and count above a threshold, fed run by run (a
// sample's H x W values). Eight float lanes accumulate across runs and are added into
// float64 every kBlock values (each lane then sums at most kBlock / 8 values): within ~1e-7
// of a float64 sum, yet several times faster, and a channel's short runs (7 x 7 maps: 49
// values) do not pay a horizontal reduction each. Zero-ness stays exact: a value above the
// threshold always counts, and a sum of values that are all <= 0 is zero only if all are.
typedef float Lanes __attribute__((vector_size(32)));   // 8 floats
typedef int32_t Mask __attribute__((vector_size(32)));  // a comparison's lanes: 0 or -1
struct ChannelMoments {
  static constexpr int64_t kBlock = 256;
  // The float part, up to kBlock values. Plain floats, not Lanes: a std::vector of this
  // struct need not be 32-byte aligned.
  struct Block {
    float sum[8] = {}, sum_sq[8] = {}, above[8] = {};
    float tail_sum = 0, tail_sq = 0, tail_above = 0;  // values past a run's last full 8
    int64_t pending = 0;                              // values in this block
  } block;
  double out[3] = {0, 0, 0};

  // Adds the block into `out` and starts a new one.
  void flush() {
    double s = block.tail_sum, q = block.tail_sq, a = block.tail_above;
    for (int l = 0; l < 8; ++l) {
      s += block.sum[l];
      q += block.sum_sq[l];
      a += block.above[l];
    }
    out[0] += s;
    out[1] += q;
    out[2] += a;
    block = Block{};
  }
};

// Adds `len` floats at `v` into `m`. On x86-64 an AVX2 clone is picked at load time.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
void add_run(ChannelMoments& m, const float* v, int64_t len, float threshold) {
  const Lanes zero = {};
  const Lanes thr = zero + threshold;
  const Lanes one = zero + 1.0f;
  ChannelMoments::Block& b = m.block;
  for (int64_t k = 0; k < len;) {
    const int64_t end = k + std::min(len - k, ChannelMoments::kBlock - b.pending);
    b.pending += end - k;
    Lanes sum, sum_sq, above;  // the block's floats, in registers for the loop
    std::memcpy(&sum, b.sum, sizeof(sum));
    std::memcpy(&sum_sq, b.sum_sq, sizeof(sum_sq));
    std::memcpy(&above, b.above, sizeof(above));
    for (; k + 8 <= end; k += 8) {
      Lanes x;
      std::memcpy(&x, v + k, sizeof(x));
      sum += x;
      sum_sq += x * x;
      above += reinterpret_cast<Lanes>((x > thr) & reinterpret_cast<Mask>(one));
    }
    std::memcpy(b.sum, &sum, sizeof(sum));
    std::memcpy(b.sum_sq, &sum_sq, sizeof(sum_sq));
    std::memcpy(b.above, &above, sizeof(above));
    for (; k < end; ++k) {
      const float a = v[k];
      b.tail_sum += a;
      b.tail_sq += a * a;
      b.tail_above += a > threshold ? 1.0f : 0.0f;
    }
    if (b.pending == ChannelMoments::kBlock) m.flush();
  }
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
    // Samples outer, channels inner: memory order, so the reads stream.
    std::vector<ChannelMoments> m(static_cast<size_t>(end - begin));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = begin; ch < end; ++ch)
        add_run(m[static_cast<size_t>(ch - begin)], data + (i * c + ch) * positions, positions,
                thr);
    for (int64_t ch = begin; ch < end; ++ch) {
      ChannelMoments& cm = m[static_cast<size_t>(ch - begin)];
      cm.flush();
      s[ch] += cm.out[0];
      q[ch] += cm.out[1];
      if (p) p[ch] += cm.out[2];
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
torch::Tensor ActivationStats::ever_nonzero() const { return positive.ne(0).logical_or(sum.ne(0)); }
torch::Tensor ActivationStats::input_energy() const {
  return in_sum_sq / static_cast<double>(in_count);
}

torch::Tensor ActivationStats::input_mean() const { return in_sum / static_cast<double>(in_count); }

}  // namespace fp
