// Small 16-bit PCM WAV files for tests, written with libsndfile.
#pragma once

#include <sndfile.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

namespace fp::testing {

// `samples` interleaved over `channels`.
inline void write_wav_short(const std::string& path, const std::vector<short>& samples, int rate,
                            int channels = 1) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f != nullptr);
  const auto frames = static_cast<sf_count_t>(samples.size() / channels);
  REQUIRE(sf_writef_short(f, samples.data(), frames) == frames);
  sf_close(f);
}

// A mono 32-bit float WAV: what a float file may hold (NaN, infinities) as it is.
inline void write_wav_float(const std::string& path, const std::vector<float>& samples, int rate) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f != nullptr);
  sf_command(f, SFC_SET_CLIPPING, nullptr, SF_FALSE);
  const auto frames = static_cast<sf_count_t>(samples.size());
  REQUIRE(sf_writef_float(f, samples.data(), frames) == frames);
  sf_close(f);
}

// One mono signal in [-1, 1], the same in each of `channels`.
inline void write_wav_mono(const std::string& path, int rate, int channels,
                           const std::vector<float>& mono) {
  std::vector<short> samples;
  for (float v : mono)
    for (int c = 0; c < channels; ++c)
      samples.push_back(static_cast<short>(std::lround(32767.0 * v)));
  write_wav_short(path, samples, rate, channels);
}

}  // namespace fp::testing
