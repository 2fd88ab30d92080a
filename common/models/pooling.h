// 2 x 2 max pooling, stride 2 (the CNN's and VGG's pools): torch::max_pool2d(x, 2)'s values.
// LibTorch 1.13's CPU kernel always computes the argmax indices too, element by element,
// and was about a third of the CNN bench's samples (docs/BENCHMARKS.md). Where no gradient
// is recorded (inference, the recording pass, the selector's candidates) a contiguous float
// [N,C,H,W] tensor is pooled by a kernel of its own that computes no indices; anything
// else (training, other types or layouts) goes to torch.
#pragma once

#include <torch/torch.h>

namespace fp {

torch::Tensor max_pool2x2(const torch::Tensor& x);

}  // namespace fp
