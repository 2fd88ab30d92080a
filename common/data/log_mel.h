// Log-mel spectrogram features (torch::stft + a triangular mel filterbank),
// padded or cropped to a fixed number of frames so every clip has one shape.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "util/status.h"

namespace fp {

struct LogMelConfig {
  int sample_rate = 8000;
  int n_fft = 256;
  int hop_length = 128;
  int n_mels = 32;
  int frames = 32;  // output width; longer clips are centre-cropped, shorter zero-padded
};

// Checks that every field is positive and n_fft/2+1 frequency bins can feed n_mels bands.
Status validate_log_mel_config(const LogMelConfig& config);

// Mel filterbank [n_mels, n_fft/2+1] (HTK mel scale).
torch::Tensor mel_filterbank(const LogMelConfig& config);

// How long a stretch of sound the model sees, in seconds: frames hops at sample_rate
// (0.51 s for FSDD's models).
double log_mel_window_seconds(const LogMelConfig& config);

// Frames of a recording computed at once; a longer one is computed this many at a time, its
// normalisation over all of them the same (to float rounding), in bounded memory.
constexpr int64_t kLogMelBlockFrames = 4096;  // 65 s at FSDD's 8 kHz and hop of 128

// Returns float32 [1, n_mels, frames]: log(mel power + 1e-6), normalised per clip (over the
// whole recording), centre-cropped or padded. Both functions throw std::invalid_argument for a
// config validate_log_mel_config rejects.
torch::Tensor log_mel_spectrogram(const std::vector<float>& samples, const LogMelConfig& config,
                                  int64_t block_frames = kLogMelBlockFrames);

}  // namespace fp
