// One file on a device -> one model input, exactly as the model spec's InputSpec says,
// so a device feeds its own recordings and pictures through the same front end the
// general model was trained with.
//
//   WAV (any rate and channel count libsndfile reads): averaged to mono, resampled to
//     input.sample_rate, log-mel (data/log_mel.h) with n_mels = height, frames = width.
//   PNG / JPEG (stb_image): converted to in_channels (1: grey, 3: RGB), resized to
//     height x width, scaled to [0, 1], then (x - mean) / std.
//   IDX (the MNIST family): each image of the file, treated like decoded pixels.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/idx_reader.h"
#include "data/log_mel.h"
#include "models/model_spec.h"
#include "util/status.h"

namespace fp {

enum class FileKind { kAudio, kImage, kIdx, kOther };

// By extension (case-insensitive): recordings .wav .flac .ogg .oga .opus .mp3 (libsndfile)
// and a phone's .m4a .aac .3gp .3g2 .amr .awb (FFmpeg: phone_audio_reader.h); pictures .png
// .jpg .jpeg .heic .heif; IDX as .idx, .idx3 or -ubyte, each optionally .gz.
FileKind file_kind(const std::string& path);
// Those formats as messages and help texts name them.
constexpr const char* kRecordingFormats = "WAV, FLAC, Ogg, MP3, M4A, 3GP, AMR";
constexpr const char* kPictureFormats = "PNG, JPEG, HEIC";

// The InputSpec of the built-in data sets (what load_fsdd / load_fashion_mnist produce),
// and of one's own image folder (data/image_folder.h: pixels in [0, 1], mean 0, std 1).
InputSpec log_mel_input_spec(const LogMelConfig& config);
InputSpec fashion_mnist_input_spec();
InputSpec image_folder_input_spec();
// The InputSpec of a data set by name ("fsdd", "fashion-mnist", "image-folder"; else none).
InputSpec builtin_input_spec(const std::string& dataset);
// The shape and classes of a built-in data set's samples as load_fashion_mnist / load_fsdd
// give them (1x28x28 and 1x32x32 log-mel, 10 classes each): what a model fed them must take.
// None for "image-folder", whose files are decoded to the model's own shape.
struct BuiltinShape {
  int64_t channels = 0, height = 0, width = 0, classes = 0;
  bool fits(const ModelSpec& spec) const {
    return spec.in_channels == channels && spec.height == height && spec.width == width &&
           spec.num_classes == classes;
  }
};
std::optional<BuiltinShape> builtin_input_shape(const std::string& dataset);
// The log-mel settings a spec's input describes (n_mels = height, frames = width).
LogMelConfig log_mel_config_of(const ModelSpec& spec);

// Linear-interpolation resampling, with a box low-pass first when downsampling.
std::vector<float> resample(std::vector<float> samples, int from_rate, int to_rate);

// The most pixels a picture may have: 2^25 (33.5 megapixels). Its header is read first, so a
// small file claiming a huge picture (a decompression bomb: 16000 x 16000 pixels in 750 KB)
// is refused before gigabytes are allocated.
constexpr int64_t kMaxImagePixels = int64_t{1} << 25;
// Nor is a picture file above 256 MiB read (a PNG of kMaxImagePixels RGBA pixels stored
// uncompressed is 128 MiB): the file is read whole, once, before it is decoded.
constexpr uintmax_t kMaxImageFileBytes = uintmax_t{1} << 28;
// The most bytes of images an IDX file of a device's folder may hold: 64 MiB (Fashion-MNIST's
// 60,000 training images are 47 MB), read whole; larger ones are refused from the header.
constexpr uint64_t kMaxDeviceIdxBytes = uint64_t{1} << 26;
// The most images one may hold (each is an item of the folder's listing): 2^20. A file of
// 64 KiB claiming 2^26 one-pixel images listed 6 GB of items, then asked for 64 GiB.
constexpr int64_t kMaxDeviceIdxImages = int64_t{1} << 20;

// A recording's samples beyond +-1 are clipping at most; past this they are no audio (or NaN).
constexpr float kMaxAudioSampleValue = 1e4f;

// float32 [in_channels, height, width]. A file the spec cannot use (wrong kind for the
// model, unreadable, empty, too large) is a Status naming the file and the reason.
// `seconds` (optional) receives the recording's length.
Result<torch::Tensor> decode_audio_file(const std::string& path, const ModelSpec& spec,
                                        double* seconds = nullptr);
Result<torch::Tensor> decode_image_file(const std::string& path, const ModelSpec& spec);
// An IDX file of a device's folder, read whole as its raw bytes (kMaxDeviceIdxBytes at
// most) and checked for `spec` (grey images, at least one). Its images are decoded one at a
// time (idx_image_input): decoded whole at the model's resolution, a file could take many
// times its bytes (60,000 images at 224 x 224: 12 GB).
Result<IdxArray> read_device_idx(const std::string& path, const ModelSpec& spec);
// Image `i` of `idx` (read from `path`): float32 [in_channels, height, width].
Result<torch::Tensor> idx_image_input(const IdxArray& idx, int64_t i, const std::string& path,
                                      const ModelSpec& spec);
// Number of images in an IDX file (from its header; kMaxDeviceIdxBytes and
// kMaxDeviceIdxImages apply).
Result<int64_t> idx_image_count(const std::string& path);

// Raw 8-bit pixels [h, w, channels] (row-major) -> float32 [C, H, W] per the spec.
Result<torch::Tensor> pixels_to_input(const uint8_t* pixels, int64_t h, int64_t w, int64_t channels,
                                      const ModelSpec& spec);

}  // namespace fp
