// WAV reading through libsndfile.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

struct Audio {
  int sample_rate = 0;
  std::vector<float> samples;  // mono, in [-1, 1]; multi-channel files are averaged
};

// A missing, truncated or non-audio file is a Status naming the path.
Result<Audio> read_wav(const std::string& path);

}  // namespace fp
