#include "models/pooling.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace fp {
namespace {

// torch's rule, in its order over the window (row by row): a value replaces the maximum
// when it is greater, or NaN. Same comparisons, same result bit for bit (-0 and 0 too).
inline float take(float m, float v) { return (v > m || std::isnan(v)) ? v : m; }

typedef float Lanes __attribute__((vector_size(32)));    // 8 floats
typedef int32_t Index __attribute__((vector_size(32)));  // a comparison's lanes: 0 or -1

// The maxima of the windows whose two rows start at `r0` and `r1`: the row's `ow` outputs
// into `o`. Eight windows a step: the even and odd values of 16 inputs are separated by a
// shuffle. A row's last step may read past the row's end into the rows after it, and
// writes all eight lanes, past the row's outputs into the next row's, which the next call
// overwrites (rows are pooled in order): a partial store (a vector copied out lane by lane)
// stalled the loop. So a step is taken only where its reads stay inside the input (`in_end`)
// and its writes inside this thread's outputs (`out_end`); the rest go one window at a time.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
void pool_row(const float* r0, const float* r1, int64_t ow, float* o, const float* in_end,
              const float* out_end) {
  const Index even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = even + 1;
  int64_t j = 0;
  for (; j < ow && r1 + 2 * j + 16 <= in_end && o + j + 8 <= out_end; j += 8) {
    Lanes a0, a1, b0, b1;
    std::memcpy(&a0, r0 + 2 * j, sizeof(Lanes));
    std::memcpy(&a1, r0 + 2 * j + 8, sizeof(Lanes));
    std::memcpy(&b0, r1 + 2 * j, sizeof(Lanes));
    std::memcpy(&b1, r1 + 2 * j + 8, sizeof(Lanes));
    Lanes m = __builtin_shuffle(a0, a1, even);  // take(-inf, v) is v
    const Lanes rest[3] = {__builtin_shuffle(a0, a1, odd), __builtin_shuffle(b0, b1, even),
                           __builtin_shuffle(b0, b1, odd)};
    for (const Lanes& v : rest) m = ((v > m) | (v != v)) ? v : m;  // take(), lane by lane
    std::memcpy(o + j, &m, sizeof(m));
  }
  const float lowest = -std::numeric_limits<float>::infinity();
  for (; j < ow; ++j) {
    float m = take(lowest, r0[2 * j]);
    m = take(m, r0[2 * j + 1]);
    m = take(m, r1[2 * j]);
    o[j] = take(m, r1[2 * j + 1]);
  }
}

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
  const float* in_end = in + x.numel();
  float* out = y.data_ptr<float>();
  const int64_t planes = n * c;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, h * w));
  at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
    const float* out_end = out + end * oh * ow;  // this thread's outputs end there
    for (int64_t p = begin; p < end; ++p) {
      const float* plane = in + p * h * w;
      for (int64_t i = 0; i < oh; ++i)
        pool_row(plane + 2 * i * w, plane + (2 * i + 1) * w, ow, out + (p * oh + i) * ow, in_end,
                 out_end);
    }
  });
  return y;
}

}  // namespace fp
