// Per-unit activation statistics, accumulated in float64 over samples and spatial
// positions of a layer's post-activation output (softmax probabilities for the
// output layer), plus the energy of each input channel (for |w|*sqrt(E_in)).
#pragma once

#include <torch/torch.h>

namespace fp {

struct ActivationStats {
  torch::Tensor sum;          // [units] sum of outputs
  torch::Tensor sum_sq;       // [units] sum of squared outputs
  torch::Tensor positive;     // [units] count of outputs > threshold (0; 1/C for softmax)
  int64_t count = 0;          // observations per unit (samples x positions)
  torch::Tensor in_sum_sq;    // [input channels] sum of squared inputs
  torch::Tensor in_sum;       // [input channels] sum of inputs (with in_sum_sq)
  int64_t in_count = 0;       // observations per input channel
  int64_t samples = 0;        // samples seen
  bool track_inputs = false;  // inputs cost a second pass; only |w|*sqrt(E_in) needs them

  // Adds one batch: `output` [N,C,H,W] or [N,C]; `input` likewise for input channels.
  // One fused pass per tensor accumulates sum, squares and positives per channel in float64.
  void accumulate(const torch::Tensor& output, const torch::Tensor& input, bool softmax_output);

  torch::Tensor mean() const;         // [units]
  torch::Tensor energy() const;       // [units] mean of squares
  torch::Tensor firing_rate() const;  // [units]
  // [units] true where some recorded output was not exactly 0: exact in float (a value
  // above the threshold counts; values all <= 0 sum to 0 only if all are 0), where the
  // sum of squares is not (squares below ~4e-23 vanish).
  torch::Tensor ever_nonzero() const;
  torch::Tensor input_energy() const;  // [input channels]
  torch::Tensor input_mean() const;    // [input channels]
};

}  // namespace fp
