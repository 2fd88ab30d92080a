#include "data/log_mel.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace fp {
namespace {

double hz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

void check(const LogMelConfig& config) {
  Status s = validate_log_mel_config(config);
  if (!s.ok()) throw std::invalid_argument(s.message());
}

}  // namespace

Status validate_log_mel_config(const LogMelConfig& c) {
  auto positive = [](const char* field, int v) {
    return v > 0 ? Status()
                 : Status::invalid_argument(std::string("log-mel config: ") + field +
                                            " must be > 0, got " + std::to_string(v));
  };
  FP_RETURN_IF_ERROR(positive("sample_rate", c.sample_rate));
  FP_RETURN_IF_ERROR(positive("n_fft", c.n_fft));
  FP_RETURN_IF_ERROR(positive("hop_length", c.hop_length));
  FP_RETURN_IF_ERROR(positive("n_mels", c.n_mels));
  FP_RETURN_IF_ERROR(positive("frames", c.frames));
  if (c.n_fft < 4) {
    return Status::invalid_argument("log-mel config: n_fft must be >= 4, got " +
                                    std::to_string(c.n_fft));
  }
  if (c.n_mels > c.n_fft / 2 + 1) {
    return Status::invalid_argument("log-mel config: n_mels " + std::to_string(c.n_mels) +
                                    " exceeds the " + std::to_string(c.n_fft / 2 + 1) +
                                    " frequency bins of n_fft " + std::to_string(c.n_fft));
  }
  return Status();
}

torch::Tensor mel_filterbank(const LogMelConfig& config) {
  check(config);
  const int bins = config.n_fft / 2 + 1;
  const double mel_max = hz_to_mel(config.sample_rate / 2.0);
  // n_mels + 2 edges equally spaced in mel, from 0 Hz to Nyquist.
  std::vector<double> edge_hz(config.n_mels + 2);
  for (int i = 0; i < config.n_mels + 2; ++i) {
    edge_hz[i] = mel_to_hz(mel_max * i / (config.n_mels + 1));
  }
  torch::Tensor bank = torch::zeros({config.n_mels, bins}, torch::kFloat32);
  auto w = bank.accessor<float, 2>();
  for (int m = 0; m < config.n_mels; ++m) {
    const double lo = edge_hz[m], mid = edge_hz[m + 1], hi = edge_hz[m + 2];
    for (int k = 0; k < bins; ++k) {
      const double f = static_cast<double>(k) * config.sample_rate / config.n_fft;
      const double rise = (f - lo) / (mid - lo);
      const double fall = (hi - f) / (hi - mid);
      w[m][k] = static_cast<float>(std::max(0.0, std::min(rise, fall)));
    }
  }
  return bank;
}

double log_mel_window_seconds(const LogMelConfig& config) {
  return static_cast<double>(config.frames) * config.hop_length / std::max(1, config.sample_rate);
}

namespace {

// log(mel power + 1e-6) of the frames of `signal` [n_mels, frames].
torch::Tensor log_mel_frames(const torch::Tensor& signal, const torch::Tensor& bank,
                             const torch::Tensor& window, const LogMelConfig& config, bool center) {
  torch::Tensor spec = torch::stft(signal, config.n_fft, config.hop_length, config.n_fft, window,
                                   center, "reflect", /*normalized=*/false,
                                   /*onesided=*/true, /*return_complex=*/true);
  torch::Tensor power = torch::view_as_real(spec).pow(2).sum(-1);  // [bins, T]
  return torch::matmul(bank, power).add_(1e-6).log_();             // [n_mels, T]
}

// The columns [from, from + count) of the whole recording's log-mel frames, and the mean and
// standard deviation over all its frames, computed `block` frames at a time: the frames of a
// long recording held at once took several times its samples (1.2 GB near kMaxAudioSamples).
torch::Tensor log_mel_window_by_blocks(const torch::Tensor& x, const torch::Tensor& bank,
                                       const torch::Tensor& window, const LogMelConfig& config,
                                       int64_t total, int64_t from, int64_t count, int64_t block,
                                       double* mean, double* sd) {
  const int64_t half = config.n_fft / 2, hop = config.hop_length;
  // What stft's center=true does: reflect-pad half a window on each side, then frame.
  torch::Tensor padded = torch::reflection_pad1d(x.view({1, 1, -1}), {half, half}).view(-1);
  torch::Tensor kept = torch::empty({config.n_mels, count}, torch::kFloat32);
  double sum = 0.0, squares = 0.0;
  for (int64_t b = 0; b < total; b += block) {
    const int64_t frames = std::min(block, total - b);
    torch::Tensor mel = log_mel_frames(padded.narrow(0, b * hop, (frames - 1) * hop + config.n_fft),
                                       bank, window, config, /*center=*/false);
    sum += mel.sum(torch::kFloat64).item<double>();
    squares += mel.to(torch::kFloat64).square().sum().item<double>();
    const int64_t lo = std::max(b, from), hi = std::min(b + frames, from + count);
    if (lo < hi) kept.narrow(1, lo - from, hi - lo).copy_(mel.narrow(1, lo - b, hi - lo));
  }
  const double n = static_cast<double>(total) * config.n_mels;
  *mean = sum / n;
  *sd = std::sqrt(std::max(0.0, squares / n - *mean * *mean));
  return kept;
}

}  // namespace

torch::Tensor log_mel_spectrogram(const std::vector<float>& samples, const LogMelConfig& config,
                                  int64_t block_frames) {
  torch::NoGradGuard no_grad;
  torch::Tensor bank = mel_filterbank(config);  // validates config
  const int64_t n = static_cast<int64_t>(samples.size());
  // Reflect padding (center=true) needs more than n_fft/2 samples: short clips get zeros.
  // A long enough recording is read where it is (stft only reads it), not copied.
  torch::Tensor x;
  if (n >= config.n_fft) {
    x = torch::from_blob(const_cast<float*>(samples.data()), {n}, torch::kFloat32);
  } else {
    x = torch::zeros({config.n_fft}, torch::kFloat32);
    if (n > 0) x.narrow(0, 0, n).copy_(torch::from_blob(const_cast<float*>(samples.data()), {n}));
  }
  torch::Tensor window = torch::hann_window(config.n_fft, torch::kFloat32);
  const int64_t frames = config.frames;
  // stft's frame count with center=true.
  const int64_t t = 1 + (x.size(0) + 2 * (config.n_fft / 2) - config.n_fft) / config.hop_length;

  // In log units a spread below 1e-4 is float rounding of a constant clip (silence):
  // dividing by it would blow rounding noise up to unit scale, so such clips become zeros.
  torch::Tensor mel;
  if (t <= std::max<int64_t>(block_frames, 1)) {
    mel = log_mel_frames(x, bank, window, config, /*center=*/true);
    const double sd = mel.std(/*unbiased=*/false).item<double>();
    if (sd > 1e-4) {
      mel = mel.sub(mel.mean()).div_(sd);
    } else {
      mel.zero_();
    }
    if (t > frames) mel = mel.narrow(1, (t - frames) / 2, frames);
  } else {
    const int64_t from = t > frames ? (t - frames) / 2 : 0;
    double mean = 0.0, sd = 0.0;
    mel = log_mel_window_by_blocks(x, bank, window, config, t, from, std::min(t, frames),
                                   std::max<int64_t>(block_frames, 1), &mean, &sd);
    if (sd > 1e-4) {
      mel.sub_(mean).div_(sd);
    } else {
      mel.zero_();
    }
  }
  if (t < frames) {
    // Padded evenly on both sides, so cropped and padded clips are both centred.
    torch::Tensor out = torch::zeros({config.n_mels, frames}, torch::kFloat32);
    out.narrow(1, (frames - t) / 2, t).copy_(mel);
    mel = out;
  }
  return mel.contiguous().unsqueeze(0);
}

}  // namespace fp
