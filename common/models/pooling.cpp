#include "models/pooling.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace fp {
namespace {

// torch's rule, in its order over the window (row by row): a value replaces the maximum
// when it is greater, or NaN. Same comparisons, same result bit for bit (-0 and 0 too).
inline float take(float m, float v) { return (v > m || std::isnan(v)) ? v : m; }

}  // namespace

torch::Tensor max_pool2x2(const torch::Tensor& x) {
  const bool gradient = torch::GradMode::is_enabled() && x.requires_grad();
  if (gradient || x.dim() != 4 || x.scalar_type() != torch::kFloat || !x.is_contiguous() ||
      !x.device().is_cpu() || x.size(2) < 2 || x.size(3) < 2)
    return torch::max_pool2d(x, 2);  // (torch refuses a map smaller than the window)
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = h / 2, ow = w / 2;  // floor, as torch without ceil_mode
  torch::Tensor y = torch::empty({n, c, oh, ow}, x.options());
  const float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const float lowest = -std::numeric_limits<float>::infinity();
  const int64_t planes = n * c;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, h * w));
  at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* plane = in + p * h * w;
      float* o = out + p * oh * ow;
      for (int64_t i = 0; i < oh; ++i) {
        const float* r0 = plane + 2 * i * w;
        const float* r1 = r0 + w;
        for (int64_t j = 0; j < ow; ++j) {
          float m = take(lowest, r0[2 * j]);
          m = take(m, r0[2 * j + 1]);
          m = take(m, r1[2 * j]);
          o[i * ow + j] = take(m, r1[2 * j + 1]);
        }
      }
    }
  });
  return y;
}

}  // namespace fp
