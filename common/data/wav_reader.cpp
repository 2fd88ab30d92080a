#include "data/wav_reader.h"

#include <sndfile.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

namespace fp {
namespace {

struct SndCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};

uint32_t little_endian_u32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

uint16_t little_endian_u16(const unsigned char* p) {
  return static_cast<uint16_t>(uint16_t{p[0]} | (uint16_t{p[1]} << 8));
}

// What is wrong with a RIFF/WAVE file's chunks, if anything libsndfile would not say:
// libsndfile quietly shortens a WAV whose 'data' chunk runs past the end of the file (its
// declared size against the bytes actually present), and of a 'fmt ' chunk giving 0 channels
// or 0 Hz says only "SF_INFO struct incomplete".
std::optional<std::string> riff_problem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[12];
  if (!in.read(reinterpret_cast<char*>(head), sizeof(head))) return std::nullopt;
  if (std::memcmp(head, "RIFF", 4) != 0 || std::memcmp(head + 8, "WAVE", 4) != 0) {
    return std::nullopt;  // not little-endian RIFF/WAVE (RF64, AIFF, ...): left to libsndfile
  }
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  uint64_t offset = sizeof(head);
  while (offset + 8 <= file_size) {
    unsigned char chunk[8];
    in.seekg(static_cast<std::streamoff>(offset));
    if (!in.read(reinterpret_cast<char*>(chunk), sizeof(chunk))) return std::nullopt;
    const uint32_t size = little_endian_u32(chunk + 4);
    const uint64_t available = file_size - offset - 8;
    if (std::memcmp(chunk, "fmt ", 4) == 0 && size >= 8 && available >= 8) {
      unsigned char fmt[8];
      if (!in.read(reinterpret_cast<char*>(fmt), sizeof(fmt))) return std::nullopt;
      const uint16_t channels = little_endian_u16(fmt + 2);
      const uint32_t rate = little_endian_u32(fmt + 4);
      if (channels == 0 || rate == 0) {
        return "its 'fmt ' chunk gives " + std::to_string(channels) + " channel(s) at " +
               std::to_string(rate) + " Hz";
      }
    }
    if (std::memcmp(chunk, "data", 4) == 0) {
      // 0 and 0xFFFFFFFF mark streamed files whose writer never patched the size.
      if (size != 0 && size != 0xFFFFFFFFu && size > available) {
        return "truncated: 'data' chunk declares " + std::to_string(size) + " bytes, only " +
               std::to_string(available) + " present";
      }
      return std::nullopt;
    }
    offset += 8 + uint64_t{size} + (size & 1u);
  }
  return std::nullopt;
}

}  // namespace

Result<Audio> read_wav(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::not_found(path + ": no such audio file");
  }
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  std::unique_ptr<SNDFILE, SndCloser> file(sf_open(path.c_str(), SFM_READ, &info));
  if (!file) {
    if (auto why = riff_problem(path)) return Status::corruption(path + ": " + *why);
    return Status::corruption(path + ": not readable audio (" + sf_strerror(nullptr) + ")");
  }
  if (info.frames <= 0) return Status::corruption(path + ": no audio frames");
  if (info.channels <= 0 || info.samplerate <= 0) {
    return Status::corruption(path + ": bad header (" + std::to_string(info.channels) +
                              " channels, " + std::to_string(info.samplerate) + " Hz)");
  }
  if (auto why = riff_problem(path)) return Status::corruption(path + ": " + *why);
  if (info.frames > kMaxAudioSamples / info.channels) {
    return Status::invalid_argument(path + ": too long (" + std::to_string(info.frames) +
                                    " frames of " + std::to_string(info.channels) +
                                    " channel(s); at most " + std::to_string(kMaxAudioSamples) +
                                    " samples are read)");
  }

  const int channels = info.channels;
  std::vector<float> interleaved(static_cast<size_t>(info.frames) * channels);
  sf_count_t got = sf_readf_float(file.get(), interleaved.data(), info.frames);
  // An MP3's frame count is an estimate from its header: what decodes is what it holds.
  const bool estimated = (info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG;
  if (estimated && got > 0 && got < info.frames) {
    info.frames = got;
    interleaved.resize(static_cast<size_t>(got) * info.channels);
  }
  if (got != info.frames) {
    return Status::corruption(path + ": truncated: header claims " + std::to_string(info.frames) +
                              " frames, read " + std::to_string(got));
  }

  Audio out;
  out.sample_rate = info.samplerate;
  if (channels == 1) {  // already mono: kept, not copied (a long recording is 128 MiB)
    out.samples = std::move(interleaved);
    return out;
  }
  out.samples.resize(static_cast<size_t>(info.frames));
  for (size_t f = 0; f < out.samples.size(); ++f) {
    float sum = 0.0f;
    for (int c = 0; c < channels; ++c) sum += interleaved[f * channels + c];
    out.samples[f] = sum / static_cast<float>(channels);
  }
  return out;
}

}  // namespace fp
