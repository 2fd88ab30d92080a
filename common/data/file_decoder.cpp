#include "data/file_decoder.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_resize.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "data/exif_orientation.h"
#include "data/fashion_mnist.h"
#include "data/heif_decoder.h"
#include "data/idx_reader.h"
#include "data/phone_audio_reader.h"
#include "data/png_check.h"
#include "data/wav_reader.h"
#include "util/file_io.h"
#include "util/text.h"

namespace fp {
namespace {

// stb_image's reasons are short codes ("outofdata"): the usual ones said in words too.
std::string stb_reason(const char* code) {
  if (code == nullptr || *code == '\0') return "no PNG or JPEG decoder reason given";
  const std::string_view c(code);
  const char* words = c == "outofdata"            ? "the file ends before its pixels: cut short?"
                      : c == "too large"          ? "its header declares more pixels than decoded"
                      : c == "no IDAT"            ? "a PNG without pixel data"
                      : c == "unknown image type" ? "no PNG or JPEG"
                                                  : nullptr;
  return words ? std::string(code) + ": " + words : std::string(code);
}

}  // namespace

FileKind file_kind(const std::string& path) {
  std::string p = ascii_lower(path);
  // Recordings libsndfile reads: WAV, and a recorder app's FLAC, Ogg (Vorbis, Opus) and MP3;
  // and FFmpeg: a phone's voice memos (AAC in MP4 or 3GP, raw AAC) and AMR recordings.
  for (const char* ext : {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3"})
    if (ends_with(p, ext)) return FileKind::kAudio;
  if (is_phone_audio_path(p)) return FileKind::kAudio;
  if (ends_with(p, ".png") || ends_with(p, ".jpg") || ends_with(p, ".jpeg") ||
      ends_with(p, ".heic") || ends_with(p, ".heif"))
    return FileKind::kImage;
  if (ends_with(p, ".gz")) p = p.substr(0, p.size() - 3);
  if (ends_with(p, ".idx") || ends_with(p, "-ubyte") || ends_with(p, ".idx3"))
    return FileKind::kIdx;
  return FileKind::kOther;
}

InputSpec log_mel_input_spec(const LogMelConfig& c) {
  InputSpec s;
  s.kind = "log_mel";
  s.sample_rate = c.sample_rate;
  s.n_fft = c.n_fft;
  s.hop_length = c.hop_length;
  return s;
}

InputSpec fashion_mnist_input_spec() {
  InputSpec s;
  s.kind = "image";
  s.mean = kFashionMnistMeanValue;
  s.std = kFashionMnistStdValue;
  return s;
}

InputSpec image_folder_input_spec() {
  InputSpec s;
  s.kind = "image";
  s.mean = 0.0;
  s.std = 1.0;
  return s;
}

InputSpec builtin_input_spec(const std::string& dataset) {
  if (dataset == "fsdd") return log_mel_input_spec(LogMelConfig{});  // load_fsdd's default
  if (dataset == "fashion-mnist") return fashion_mnist_input_spec();
  if (dataset == "image-folder") return image_folder_input_spec();
  return InputSpec{};
}

std::optional<BuiltinShape> builtin_input_shape(const std::string& dataset) {
  if (dataset == "fashion-mnist") return BuiltinShape{1, 28, 28, 10};
  if (dataset == "fsdd") return BuiltinShape{1, LogMelConfig{}.n_mels, LogMelConfig{}.frames, 10};
  return std::nullopt;
}

LogMelConfig log_mel_config_of(const ModelSpec& spec) {
  LogMelConfig c;
  c.sample_rate = static_cast<int>(spec.input.sample_rate);
  c.n_fft = static_cast<int>(spec.input.n_fft);
  c.hop_length = static_cast<int>(spec.input.hop_length);
  c.n_mels = static_cast<int>(spec.height);
  c.frames = static_cast<int>(spec.width);
  return c;
}

std::vector<float> resample(std::vector<float> in, int from, int to) {
  if (from == to || in.empty() || from <= 0 || to <= 0) return in;  // moved, not copied
  std::vector<float> src = std::move(in);
  if (from > to) {
    // Box low-pass of the decimation width: crude, but keeps most aliasing out.
    const int width = std::max(1, static_cast<int>(std::lround(static_cast<double>(from) / to)));
    std::vector<float> smooth(src.size());
    double sum = 0;
    for (size_t i = 0; i < src.size(); ++i) {
      sum += src[i];
      if (i >= static_cast<size_t>(width)) sum -= src[i - width];
      smooth[i] = static_cast<float>(sum / std::min<size_t>(i + 1, width));
    }
    src.swap(smooth);
    std::vector<float>().swap(smooth);  // the unsmoothed input, no longer needed
  }
  const size_t n_out = static_cast<size_t>(static_cast<double>(src.size()) * to / from);
  std::vector<float> out(std::max<size_t>(1, n_out));
  const double step = static_cast<double>(from) / to;
  for (size_t i = 0; i < out.size(); ++i) {
    const double x = i * step;
    const size_t j = static_cast<size_t>(x);
    const double f = x - j;
    const float a = src[std::min(j, src.size() - 1)], b = src[std::min(j + 1, src.size() - 1)];
    out[i] = static_cast<float>(a + (b - a) * f);
  }
  return out;
}

Result<torch::Tensor> decode_audio_file(const std::string& path, const ModelSpec& spec,
                                        double* seconds) {
  if (spec.input.kind != "log_mel") {
    return Status::invalid_argument(path + ": audio, but the model takes " +
                                    (spec.input.kind.empty() ? "unspecified" : spec.input.kind) +
                                    " input");
  }
  FP_ASSIGN_OR_RETURN(Audio audio,
                      is_phone_audio_path(path) ? read_phone_audio(path) : read_wav(path));
  if (audio.samples.empty()) return Status::invalid_argument(path + ": no audio samples");
  // A float recording may hold anything: one NaN (or a value whose square overflows) made the
  // whole spectrogram NaN, which the log-mel's normalisation read as silence, without a word.
  const auto wild = std::find_if(audio.samples.begin(), audio.samples.end(),
                                 [](float x) { return !(std::fabs(x) <= kMaxAudioSampleValue); });
  if (wild != audio.samples.end()) {
    return Status::invalid_argument(fmt::format(
        "{}: sample {} is {:g}: not a finite number within +-{:g} (a float recording's samples "
        "are within +-1)",
        path, wild - audio.samples.begin(), *wild, kMaxAudioSampleValue));
  }
  const LogMelConfig config = log_mel_config_of(spec);
  FP_RETURN_IF_ERROR(validate_log_mel_config(config));
  // Resampling multiplies the length: 40 KB of a 1 Hz "recording" would become 4 GB at 8 kHz.
  const double resampled =
      static_cast<double>(audio.samples.size()) * config.sample_rate / audio.sample_rate;
  if (resampled > static_cast<double>(kMaxAudioSamples)) {
    return Status::invalid_argument(path + ": too long at the model's rate (" +
                                    std::to_string(audio.samples.size()) + " samples at " +
                                    std::to_string(audio.sample_rate) + " Hz would be " +
                                    std::to_string(static_cast<int64_t>(resampled)) + " at " +
                                    std::to_string(config.sample_rate) + " Hz; at most " +
                                    std::to_string(kMaxAudioSamples) + " are read)");
  }
  std::vector<float> samples =
      resample(std::move(audio.samples), audio.sample_rate, config.sample_rate);
  if (seconds) *seconds = static_cast<double>(samples.size()) / config.sample_rate;
  return log_mel_spectrogram(samples, config);
}

Result<torch::Tensor> pixels_to_input(const uint8_t* pixels, int64_t h, int64_t w, int64_t channels,
                                      const ModelSpec& spec) {
  if (spec.input.kind != "image") {
    return Status::invalid_argument(std::string("images, but the model takes ") +
                                    (spec.input.kind.empty() ? "unspecified" : spec.input.kind) +
                                    " input");
  }
  if (h < 1 || w < 1 || channels != spec.in_channels) {
    return Status::invalid_argument("image of " + std::to_string(w) + "x" + std::to_string(h) +
                                    "x" + std::to_string(channels) + " cannot become " +
                                    std::to_string(spec.in_channels) + " channels");
  }
  std::vector<uint8_t> resized;
  if (h != spec.height || w != spec.width) {
    resized.resize(static_cast<size_t>(spec.height * spec.width * channels));
    if (!stbir_resize_uint8(pixels, static_cast<int>(w), static_cast<int>(h), 0, resized.data(),
                            static_cast<int>(spec.width), static_cast<int>(spec.height), 0,
                            static_cast<int>(channels))) {
      return Status::internal("resizing an image failed");
    }
    pixels = resized.data();
  }
  torch::Tensor hwc = torch::from_blob(const_cast<uint8_t*>(pixels),
                                       {spec.height, spec.width, channels}, torch::kUInt8);
  return hwc.permute({2, 0, 1})
      .to(torch::kFloat32)
      .div_(255.0)
      .sub_(spec.input.mean)
      .div_(spec.input.std)
      .contiguous();
}

Result<torch::Tensor> decode_image_file(const std::string& path, const ModelSpec& spec) {
  if (spec.input.kind != "image") {
    return Status::invalid_argument(path + ": an image, but the model takes " +
                                    (spec.input.kind.empty() ? "unspecified" : spec.input.kind) +
                                    " input");
  }
  if (spec.in_channels != 1 && spec.in_channels != 3) {
    return Status::invalid_argument(path + ": images feed models of 1 or 3 channels, not " +
                                    std::to_string(spec.in_channels));
  }
  // Read once: the header's size, the orientation tag and the pixels all come from `bytes`.
  std::error_code ec;
  const uintmax_t on_disk = std::filesystem::file_size(path, ec);
  if (!ec && on_disk > kMaxImageFileBytes) {
    return Status::invalid_argument(path + ": too large (" + std::to_string(on_disk) +
                                    " bytes; images of at most " +
                                    std::to_string(kMaxImageFileBytes) + " are read)");
  }
  FP_ASSIGN_OR_RETURN(const std::string bytes, read_file(path, "image"));
  if (looks_like_heif(bytes)) {
    auto picture = decode_heif(bytes, spec.in_channels, kMaxImagePixels);
    if (!picture.ok()) return picture.status().with_context(path + ": ");
    auto input = pixels_to_input(picture->pixels.data(), picture->height, picture->width,
                                 picture->channels, spec);
    if (!input.ok()) return Status::invalid_argument(path + ": " + input.status().message());
    return input;
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, n = 0;
  if (stbi_info_from_memory(data, size, &w, &h, &n) && int64_t{w} * h > kMaxImagePixels) {
    return Status::invalid_argument(path + ": too large (" + std::to_string(w) + "x" +
                                    std::to_string(h) + " pixels; at most " +
                                    std::to_string(kMaxImagePixels) + " are decoded)");
  }
  if (Status inflates = check_png_inflated_size(bytes); !inflates.ok())
    return inflates.with_context(path + ": ");
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(data, size, &w, &h, &n, static_cast<int>(spec.in_channels)),
      stbi_image_free);
  if (!pixels) {
    return Status::corruption(path + ": not a readable image (" +
                              stb_reason(stbi_failure_reason()) + ")");
  }
  // A photo is seen the way its camera says it is shown.
  int64_t rows = h, cols = w;
  std::vector<uint8_t> turned;
  const int orientation = exif_orientation(bytes);
  if (orientation != 1)
    turned = orient_pixels(pixels.get(), rows, cols, spec.in_channels, orientation);
  auto input = pixels_to_input(turned.empty() ? pixels.get() : turned.data(), rows, cols,
                               spec.in_channels, spec);
  if (!input.ok()) return Status::invalid_argument(path + ": " + input.status().message());
  return input;
}

namespace {

Status check_idx_image_count(const std::string& path, int64_t images) {
  if (images <= kMaxDeviceIdxImages) return Status();
  return Status::invalid_argument(path + ": its header lists " + std::to_string(images) +
                                  " images, more than an IDX file of a device's folder may (" +
                                  std::to_string(kMaxDeviceIdxImages) + ")");
}

}  // namespace

Result<int64_t> idx_image_count(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::vector<int64_t> dims, read_idx_dims(path, 3, kMaxDeviceIdxBytes));
  FP_RETURN_IF_ERROR(check_idx_image_count(path, dims[0]));
  return dims[0];
}

Result<IdxArray> read_device_idx(const std::string& path, const ModelSpec& spec) {
  // Read once: kMaxDeviceIdxBytes bounds what the count check reads first.
  FP_ASSIGN_OR_RETURN(IdxArray a, read_idx(path, 3, kMaxDeviceIdxBytes));
  FP_RETURN_IF_ERROR(check_idx_image_count(path, a.dims[0]));
  if (a.dims[0] == 0) return Status::invalid_argument(path + ": no images");
  if (spec.in_channels != 1) {
    return Status::invalid_argument(path + ": IDX images are grey, the model takes " +
                                    std::to_string(spec.in_channels) + " channels");
  }
  return a;
}

Result<torch::Tensor> idx_image_input(const IdxArray& idx, int64_t i, const std::string& path,
                                      const ModelSpec& spec) {
  if (i < 0 || i >= idx.dims[0])
    return Status::corruption(path + ": has no image " + std::to_string(i));
  const int64_t h = idx.dims[1], w = idx.dims[2];
  auto one = pixels_to_input(idx.data.data() + i * h * w, h, w, 1, spec);
  if (!one.ok()) return Status::invalid_argument(path + ": " + one.status().message());
  return one;
}

}  // namespace fp
