// Recordings read through libsndfile: WAV, and FLAC, Ogg (Vorbis, Opus) and MP3 as a
// recorder app saves them (read_wav takes any of them, told apart by their bytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

struct Audio {
  int sample_rate = 0;
  std::vector<float> samples;  // mono, in [-1, 1]; multi-channel files are averaged
};

// The most samples (frames x channels) a file may hold: 2^25, 128 MiB of floats (about six
// minutes of 48 kHz stereo, an hour of 8 kHz mono). A device's folder may hold long
// recordings; decoding one whole would take memory a small device does not have.
constexpr int64_t kMaxAudioSamples = int64_t{1} << 25;

// A missing, truncated, non-audio or too long (kMaxAudioSamples) file is a Status naming
// the path.
Result<Audio> read_wav(const std::string& path);

}  // namespace fp
