// The parts of a real device (issue 15) one at a time: file decoding through the
// model spec, the folder source, the labels file, personalizing without labels, the
// kept model, predictions, the persistent outbox, durations and the config file.
#include <libheif/heif.h>
#include <sndfile.h>
#include <stb_image_write.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>  // last: its CHECK, not glog's
#include <nlohmann/json.hpp>
#include <regex>

#include "agent/agent.h"
#include "agent/device_inference.h"
#include "agent/device_personalize.h"
#include "agent/fineprune_runner.h"
#include "agent/folder_data.h"
#include "agent/kept_model.h"
#include "agent/model_download.h"
#include "agent/outbox.h"
#include "agent/start_checks.h"
#include "config/cli_checks.h"
#include "config/cli_toml.h"
#include "config/duration.h"
#include "data/exif_orientation.h"
#include "data/fashion_mnist.h"
#include "data/file_decoder.h"
#include "data/folder_source.h"
#include "data/heif_decoder.h"
#include "data/log_mel.h"
#include "data/phone_audio_reader.h"
#include "experiment/personalize.h"
#include "fake_runner.h"
#include "file_size_limit.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/sample_messages.h"
#include "temp_dir.h"
#include "test_paths.h"
#include "train/evaluator.h"
#include "util/scratch_folder.h"
#include "util/sha256.h"
#include "wav_file.h"

using namespace fp;
using namespace fp::testing;
namespace fs = std::filesystem;

namespace {

ModelSpec image_spec() {
  ModelSpec s;
  s.arch = "cnn";
  s.width_mult = 0.25;
  s.input = fashion_mnist_input_spec();
  s.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return s;
}

ModelSpec audio_spec() {
  ModelSpec s;
  s.arch = "cnn";
  s.width_mult = 0.25;
  s.height = 32;
  s.width = 32;
  s.input = log_mel_input_spec(LogMelConfig{});
  return s;
}

std::vector<float> tone(int rate, double seconds, double hz) {
  std::vector<float> v(static_cast<size_t>(rate * seconds));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5f * std::sin(2 * M_PI * hz * i / rate);
  return v;
}

// Fashion-MNIST test image i as the 8-bit PNG a camera roll would hold.
void write_png(const Dataset& test, int64_t i, const std::string& path) {
  torch::Tensor x = test.inputs[i][0].mul(0.3530).add(0.2860).mul(255).round();
  x = x.clamp(0, 255).to(torch::kUInt8).contiguous();
  REQUIRE(stbi_write_png(path.c_str(), 28, 28, 1, x.data_ptr<uint8_t>(), 28));
}

// The outbox kept in `dir`, loaded again as a restarted agent does: `count` messages.
agent::Outbox reloaded(const std::string& dir, agent::Outbox::Clock::time_point now, size_t count) {
  agent::Outbox box(dir);
  auto loaded = box.load(now);
  REQUIRE(loaded.ok());
  CHECK(*loaded == count);
  return box;
}

}  // namespace

TEST_CASE("the model spec carries the input front end and class names", "[device][unit]") {
  ModelSpec s = image_spec();
  auto back = ModelSpec::from_json(s.to_json());
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK(back->input.kind == "image");
  CHECK(back->class_names.at(1) == "Trouser");
  ModelSpec a = audio_spec();
  auto audio = ModelSpec::from_json(a.to_json());
  REQUIRE(audio.ok());
  CHECK(audio->input.sample_rate == 8000);
  CHECK_FALSE(*audio == s);
  // Specs written before the input existed read back unchanged, and stay byte-identical.
  ModelSpec old;
  CHECK(old.to_json().find("input") == std::string::npos);
  CHECK(ModelSpec::from_json(R"({"arch":"cnn"})")->input.kind.empty());
  CHECK_FALSE(ModelSpec::from_json(R"({"arch":"cnn","input":{"kind":"smell"}})").ok());
  CHECK_FALSE(ModelSpec::from_json(R"({"arch":"cnn","class_names":["a"]})").ok());
}

TEST_CASE("a PNG decodes to exactly what the general model trained on", "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 20);
  REQUIRE(test.ok());
  TempDir dir("dev");
  const ModelSpec spec = image_spec();
  for (int64_t i = 0; i < 5; ++i) {
    write_png(*test, i, dir.file("p" + std::to_string(i) + ".png"));
    auto x = decode_image_file(dir.file("p" + std::to_string(i) + ".png"), spec);
    REQUIRE(x.ok());
    CHECK(torch::allclose(*x, test->inputs[i], 1e-5, 1e-5));
  }
  // A bigger colour picture is converted to one channel and resized.
  std::vector<uint8_t> rgb(56 * 56 * 3, 200);
  REQUIRE(stbi_write_png(dir.file("big.png").c_str(), 56, 56, 3, rgb.data(), 56 * 3));
  auto big = decode_image_file(dir.file("big.png"), spec);
  REQUIRE(big.ok());
  CHECK(big->sizes() == torch::IntArrayRef({1, 28, 28}));
  CHECK(big->mean().item<double>() == Approx((200 / 255.0 - 0.2860) / 0.3530).margin(0.02));
  // Damaged files and the wrong kind for the model say why.
  std::ofstream(dir.file("bad.png")) << "not a png";
  auto bad = decode_image_file(dir.file("bad.png"), spec);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("bad.png") != std::string::npos);
  CHECK_FALSE(decode_image_file(dir.file("p0.png"), audio_spec()).ok());
  // A header claiming more pixels than are decoded is refused from the header alone (a
  // decompression bomb: the pixels would come from a few hundred KB of zlib).
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char((v >> 16) & 255), char((v >> 8) & 255), char(v & 255)};
  };
  std::ofstream(dir.file("bomb.png"), std::ios::binary)
      << "\x89PNG\r\n\x1a\n"
      << be32(13) << "IHDR" << be32(6000) << be32(6000) << std::string("\x08\x02\x00\x00\x00", 5)
      << be32(0) << be32(0) << "IEND" << be32(0);
  auto bomb = decode_image_file(dir.file("bomb.png"), spec);
  REQUIRE_FALSE(bomb.ok());
  CHECK_THAT(
      bomb.status().message(),
      Catch::EndsWith("bomb.png: too large (6000x6000 pixels; at most 33554432 are decoded)"));
  // Nor is a file larger than any such picture read into memory (sparse here: no disk used).
  fs::copy_file(dir.file("p0.png"), dir.file("huge.png"));
  fs::resize_file(dir.file("huge.png"), kMaxImageFileBytes + 1);
  auto huge = decode_image_file(dir.file("huge.png"), spec);
  REQUIRE_FALSE(huge.ok());
  CHECK_THAT(huge.status().message(),
             Catch::EndsWith("huge.png: too large (268435457 bytes; images of at most 268435456 "
                             "are read)"));
}

// PNG's chunk checksum (CRC-32, ISO 3309), bit by bit: a test writes one chunk.
static uint32_t png_crc(const std::string& type_and_data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (char ch : type_and_data) {
    crc ^= static_cast<uint8_t>(ch);
    for (int bit = 0; bit < 8; ++bit) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

// A phone stores the sensor's pixels and tags how to turn them (EXIF orientation).
TEST_CASE("a photo is decoded the way its EXIF orientation says it is shown", "[device][unit]") {
  // Each orientation of [[1, 2, 3], [4, 5, 6]] (2 rows, 3 columns) as shown.
  const std::vector<uint8_t> stored = {1, 2, 3, 4, 5, 6};
  const std::vector<std::vector<uint8_t>> shown = {
      {1, 2, 3, 4, 5, 6}, {3, 2, 1, 6, 5, 4}, {6, 5, 4, 3, 2, 1}, {4, 5, 6, 1, 2, 3},
      {1, 4, 2, 5, 3, 6}, {4, 1, 5, 2, 6, 3}, {6, 3, 5, 2, 4, 1}, {3, 6, 2, 5, 1, 4}};
  for (int o = 1; o <= 8; ++o) {
    INFO("orientation " << o);
    int64_t h = 2, w = 3;
    CHECK(orient_pixels(stored.data(), h, w, 1, o) == shown[o - 1]);
    CHECK(h == (o >= 5 ? 3 : 2));
    CHECK(w == (o >= 5 ? 2 : 3));
  }

  // A JPEG whose stored left half is dark, tagged "turn 90 degrees clockwise": shown, its
  // top half is dark.
  TempDir dir("dev");
  std::vector<uint8_t> half(20 * 40, 255);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) half[static_cast<size_t>(y * 40 + x)] = 0;
  REQUIRE(stbi_write_jpg(dir.file("plain.jpg").c_str(), 40, 20, 1, half.data(), 100));
  std::ifstream written(dir.file("plain.jpg"), std::ios::binary);
  const std::string jpeg{std::istreambuf_iterator<char>(written), {}};
  REQUIRE(jpeg.size() > 100);
  const std::string exif = std::string(
      "\xFF\xE1\x00\x22"
      "Exif\0\0"
      "MM\x00\x2A\x00\x00\x00\x08"
      "\x00\x01"
      "\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
      "\x00\x00\x00\x00",
      36);
  const std::string tagged_jpeg = jpeg.substr(0, 2) + exif + jpeg.substr(2);
  std::ofstream(dir.file("turned.JPG"), std::ios::binary) << tagged_jpeg;
  // Told by its bytes, not its name: a JPEG saved as .png is still turned.
  std::ofstream(dir.file("jpeg-named.png"), std::ios::binary) << tagged_jpeg;
  // A PNG carries the same TIFF block in an eXIf chunk, before its pixels (after IHDR).
  REQUIRE(stbi_write_png(dir.file("plain.png").c_str(), 40, 20, 1, half.data(), 40));
  std::ifstream written_png(dir.file("plain.png"), std::ios::binary);
  const std::string png{std::istreambuf_iterator<char>(written_png), {}};
  REQUIRE(png.substr(12, 4) == "IHDR");
  const std::string tiff = exif.substr(10);
  std::string chunk = std::string("\0\0\0", 3) + static_cast<char>(tiff.size()) + "eXIf" + tiff;
  const uint32_t crc = png_crc(chunk.substr(4));
  for (int shift = 24; shift >= 0; shift -= 8) chunk += static_cast<char>((crc >> shift) & 0xFF);
  std::ofstream(dir.file("turned.png"), std::ios::binary)
      << png.substr(0, 33) + chunk + png.substr(33);
  CHECK(exif_orientation(jpeg) == 1);
  CHECK(exif_orientation(tagged_jpeg) == 6);
  CHECK(exif_orientation(png) == 1);
  CHECK(exif_orientation(png.substr(0, 33) + chunk + png.substr(33)) == 6);
  CHECK(exif_orientation(exif) == 1);  // neither a JPEG nor a PNG
  // A tag after the pixels is not read (eXIf must come before IDAT).
  const size_t iend = png.size() - 12;
  CHECK(exif_orientation(png.substr(0, iend) + chunk + png.substr(iend)) == 1);
  auto mean = [](const torch::Tensor& t) { return t.mean().item<double>(); };
  for (const char* name : {"plain.jpg", "plain.png"}) {
    INFO(name);
    auto plain = decode_image_file(dir.file(name), image_spec());
    REQUIRE(plain.ok());
    const auto& p = *plain;
    CHECK(mean(p.slice(2, 0, 10)) < mean(p.slice(2, 18, 28)) - 1.0);  // dark left, as stored
  }
  for (const char* name : {"turned.JPG", "jpeg-named.png", "turned.png"}) {
    INFO(name);
    auto turned = decode_image_file(dir.file(name), image_spec());
    REQUIRE(turned.ok());
    const auto& t = *turned;
    CHECK(mean(t.slice(1, 0, 10)) < mean(t.slice(1, 18, 28)) - 1.0);  // dark top, as shown
    CHECK(std::abs(mean(t.slice(2, 0, 10)) - mean(t.slice(2, 18, 28))) < 0.2);
  }
}

// An iPhone saves its photos as HEIC: made here with libheif's own HEVC encoder.
static std::string heic_of(const std::vector<uint8_t>& grey, int w, int h) {
  heif_context* ctx = heif_context_alloc();
  heif_image* image = nullptr;
  REQUIRE(heif_image_create(w, h, heif_colorspace_RGB, heif_chroma_interleaved_RGB, &image).code ==
          heif_error_Ok);
  REQUIRE(heif_image_add_plane(image, heif_channel_interleaved, w, h, 8).code == heif_error_Ok);
  int stride = 0;
  uint8_t* rgb = heif_image_get_plane(image, heif_channel_interleaved, &stride);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        rgb[y * stride + 3 * x + c] = grey[static_cast<size_t>(y * w + x)];
  heif_encoder* encoder = nullptr;
  REQUIRE(heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &encoder).code ==
          heif_error_Ok);
  heif_encoder_set_lossy_quality(encoder, 95);
  REQUIRE(heif_context_encode_image(ctx, image, encoder, nullptr, nullptr).code == heif_error_Ok);
  heif_encoder_release(encoder);
  heif_image_release(image);
  std::string bytes;
  heif_writer writer{1, [](heif_context*, const void* data, size_t size, void* out) {
                       static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
                       return heif_error{heif_error_Ok, heif_suberror_Unspecified, "ok"};
                     }};
  REQUIRE(heif_context_write(ctx, &writer, &bytes).code == heif_error_Ok);
  heif_context_free(ctx);
  return bytes;
}

TEST_CASE("an iPhone's HEIC photo is decoded; a file only named .heic is refused",
          "[device][unit]") {
  TempDir dir("dev");
  // 64x32 (HEVC codes in blocks), its left half dark.
  std::vector<uint8_t> half(32 * 64, 240);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) half[static_cast<size_t>(y * 64 + x)] = 10;
  const std::string heic = heic_of(half, 64, 32);
  CHECK(looks_like_heif(heic));
  std::ofstream(dir.file("IMG_0001.HEIC"), std::ios::binary) << heic;
  std::ofstream(dir.file("photo.jpg"), std::ios::binary) << heic;  // told by its bytes
  CHECK(file_kind(dir.file("IMG_0001.HEIC")) == FileKind::kImage);
  auto mean = [](const torch::Tensor& t) { return t.mean().item<double>(); };
  for (const char* name : {"IMG_0001.HEIC", "photo.jpg"}) {
    INFO(name);
    auto decoded = decode_image_file(dir.file(name), image_spec());
    REQUIRE(decoded.ok());
    const auto& x = *decoded;
    CHECK(x.sizes() == torch::IntArrayRef({1, 28, 28}));
    CHECK(mean(x.slice(2, 0, 10)) < mean(x.slice(2, 18, 28)) - 1.0);  // dark left, as stored
  }
  std::ofstream(dir.file("fake.heic"), std::ios::binary) << "not a picture at all";
  auto fake = decode_image_file(dir.file("fake.heic"), image_spec());
  REQUIRE_FALSE(fake.ok());
  CHECK_THAT(fake.status().message(), Catch::Contains("fake.heic: not a readable image"));
  std::string damaged = heic.substr(0, heic.size() / 2);
  std::ofstream(dir.file("cut.heic"), std::ios::binary) << damaged;
  auto cut = decode_image_file(dir.file("cut.heic"), image_spec());
  REQUIRE_FALSE(cut.ok());
  CHECK_THAT(cut.status().message(), Catch::Contains("cut.heic: not a readable HEIF picture"));
}

TEST_CASE("a float recording holding NaN or wild samples is skipped, naming the sample",
          "[device][unit]") {
  // One NaN made the whole spectrogram NaN, which the normalisation read as silence: the
  // recording was classified as silence without a word.
  TempDir dir("dev");
  std::vector<float> voice = tone(8000, 0.5, 440);
  fp::testing::write_wav_float(dir.file("clean.wav"), voice, 8000);
  REQUIRE(decode_audio_file(dir.file("clean.wav"), audio_spec()).ok());
  voice[2000] = std::nanf("");
  fp::testing::write_wav_float(dir.file("nan.wav"), voice, 8000);
  CHECK_THAT(decode_audio_file(dir.file("nan.wav"), audio_spec()).status().message(),
             Catch::StartsWith(dir.file("nan.wav") + ": sample 2000 is nan: not a finite number"));
  voice[2000] = 1e30f;
  fp::testing::write_wav_float(dir.file("wild.wav"), voice, 8000);
  CHECK_THAT(decode_audio_file(dir.file("wild.wav"), audio_spec()).status().message(),
             Catch::Contains("sample 2000 is 1e+30: not a finite number within +-10000"));
}

TEST_CASE("a recorder app's FLAC, Ogg and MP3 files are recordings as WAV files are",
          "[device][unit]") {
  TempDir dir("dev");
  const ModelSpec spec = audio_spec();
  const std::vector<float> voice = tone(8000, 0.5, 440);
  write_wav_mono(dir.file("memo.wav"), 8000, 1, voice);
  auto wav = decode_audio_file(dir.file("memo.wav"), spec);
  REQUIRE(wav.ok());
  // What "alike" is measured against: another voice (a tone an octave up) differs by far more.
  write_wav_mono(dir.file("other.wav"), 8000, 1, tone(8000, 0.5, 880));
  auto other = decode_audio_file(dir.file("other.wav"), spec);
  REQUIRE(other.ok());
  CHECK((*other - *wav).abs().mean().item<double>() > 0.6);  // 0.77 measured
  struct Kind {
    const char* name;
    int format;
    double tolerance;  // mean log-mel difference from the WAV: lossless, then lossy
  };
  int written = 0;
  for (const Kind& k : {Kind{"memo.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 0.001},
                        Kind{"memo.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0.3},
                        Kind{"memo.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 0.5},
                        Kind{"memo.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 0.3}}) {
    INFO(k.name);
    SF_INFO info{};
    info.samplerate = 8000;
    info.channels = 1;
    info.format = k.format;
    if (!sf_format_check(&info)) continue;  // this libsndfile cannot write it
    SNDFILE* f = sf_open(dir.file(k.name).c_str(), SFM_WRITE, &info);
    if (!f) continue;
    REQUIRE(sf_writef_float(f, voice.data(), static_cast<sf_count_t>(voice.size())) > 0);
    sf_close(f);
    ++written;
    CHECK(file_kind(dir.file(k.name)) == FileKind::kAudio);
    auto decoded = decode_audio_file(dir.file(k.name), spec);
    REQUIRE(decoded.ok());
    CHECK(decoded->sizes() == wav->sizes());
    CHECK((*decoded - *wav).abs().mean().item<double>() < k.tolerance);
  }
  CHECK(written >= 2);  // FLAC and Vorbis at least, wherever libsndfile is built
}

TEST_CASE("a phone's voice memos (AAC in MP4, .m4a) are recordings as WAV files are",
          "[device][unit]") {
  // libsndfile reads no M4A: an iPhone's Voice Memos folder was all "not a recording".
  // tests/data holds the 440 Hz tone of tone(8000, 0.5, 440) encoded by FFmpeg's AAC
  // encoder (ffmpeg -i tone.wav -c:a aac -b:a 24k), and the same tone at 44.1 kHz in stereo.
  TempDir dir("dev");
  const ModelSpec spec = audio_spec();
  write_wav_mono(dir.file("memo.wav"), 8000, 1, tone(8000, 0.5, 440));
  auto wav = decode_audio_file(dir.file("memo.wav"), spec);
  REQUIRE(wav.ok());
  write_wav_mono(dir.file("other.wav"), 8000, 1, tone(8000, 0.5, 880));
  auto other = decode_audio_file(dir.file("other.wav"), spec);
  REQUIRE(other.ok());
  const double apart = (*other - *wav).abs().mean().item<double>();
  for (const std::string name : {"memo-8k-mono.m4a", "memo-44k-stereo.m4a"}) {
    INFO(name);
    const std::string path = std::string(FP_SOURCE_DIR) + "/tests/data/" + name;
    CHECK(file_kind(path) == FileKind::kAudio);
    auto audio = read_phone_audio(path);
    REQUIRE(audio.ok());
    CHECK(audio->sample_rate == (name == "memo-8k-mono.m4a" ? 8000 : 44100));
    // Half a second, and the encoder's priming and padding (under 2,048 samples).
    const double seconds = static_cast<double>(audio->samples.size()) / audio->sample_rate;
    CHECK(seconds >= 0.5);
    CHECK(seconds < 0.5 + 2048.0 / audio->sample_rate);
    // Stereo averaged to mono: the tone's amplitude (0.5), not twice it.
    float peak = 0;
    for (float x : audio->samples) peak = std::max(peak, std::abs(x));
    CHECK(peak > 0.4f);
    CHECK(peak < 0.6f);
    auto decoded = decode_audio_file(path, spec);
    REQUIRE(decoded.ok());
    CHECK(decoded->sizes() == wav->sizes());
    CHECK((*decoded - *wav).abs().mean().item<double>() < apart / 2);
  }
  CHECK(is_phone_audio_path("Recording 12.M4A"));
  CHECK(file_kind("voice.aac") == FileKind::kAudio);
  // Not one: refused naming the file, as a damaged WAV is.
  std::ofstream(dir.file("fake.m4a"), std::ios::binary) << "not a recording at all";
  auto fake = read_phone_audio(dir.file("fake.m4a"));
  REQUIRE_FALSE(fake.ok());
  CHECK_THAT(fake.status().message(), Catch::StartsWith(dir.file("fake.m4a") + ": "));
  const std::string bytes =
      fp::testing::read_file(std::string(FP_SOURCE_DIR) + "/tests/data/memo-8k-mono.m4a");
  std::ofstream(dir.file("cut.m4a"), std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  auto cut = decode_audio_file(dir.file("cut.m4a"), spec);
  REQUIRE_FALSE(cut.ok());
  CHECK_THAT(cut.status().message(), Catch::Contains("cut.m4a: "));
  auto missing = read_phone_audio(dir.file("none.m4a"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
}

TEST_CASE("older Android recordings (AMR, raw or in 3GP; AAC in 3GP) are recordings too",
          "[device][unit]") {
  // tests/data/memo-8k-mono.3gp: memo-8k-mono.m4a's AAC put in 3GP (ffmpeg -c copy -f 3gp).
  // tests/data/amr-pattern.3gp: 50 AMR-NB 12.2 kbit/s frames, frame k's 31 payload bytes
  // (k * 37 + j * 11 + 5) % 256, as amr_pattern() writes them (Debian's FFmpeg encodes no
  // AMR), put in 3GP the same way.
  TempDir dir("dev");
  const ModelSpec spec = audio_spec();
  const std::string data = std::string(FP_SOURCE_DIR) + "/tests/data/";
  auto aac = read_phone_audio(data + "memo-8k-mono.3gp");
  auto m4a = read_phone_audio(data + "memo-8k-mono.m4a");
  REQUIRE(aac.ok());
  REQUIRE(m4a.ok());
  CHECK(aac->sample_rate == 8000);
  CHECK(aac->samples == m4a->samples);  // the same AAC stream in another container

  std::string amr = "#!AMR\n";
  for (int k = 0; k < 50; ++k) {
    amr.push_back(static_cast<char>(0x3C));  // frame type 7 (12.2 kbit/s), quality bit set
    for (int j = 0; j < 31; ++j) amr.push_back(static_cast<char>((k * 37 + j * 11 + 5) % 256));
  }
  std::ofstream(dir.file("Recording 001.AMR"), std::ios::binary) << amr;
  CHECK(file_kind(dir.file("Recording 001.AMR")) == FileKind::kAudio);
  auto raw = read_phone_audio(dir.file("Recording 001.AMR"));
  auto boxed = read_phone_audio(data + "amr-pattern.3gp");
  INFO(raw.status().to_string() << " / " << boxed.status().to_string());
  REQUIRE(raw.ok());
  REQUIRE(boxed.ok());
  CHECK(raw->sample_rate == 8000);
  CHECK(raw->samples.size() == 50 * 160);  // 20 ms a frame
  CHECK(boxed->samples == raw->samples);
  float peak = 0;
  bool finite = true;
  for (float x : raw->samples) {
    finite = finite && std::isfinite(x);
    peak = std::max(peak, std::abs(x));
  }
  CHECK(finite);
  CHECK(peak > 0.01f);  // decoded, not silence
  auto features = decode_audio_file(data + "amr-pattern.3gp", spec);
  REQUIRE(features.ok());
  CHECK(torch::isfinite(*features).all().item<bool>());
  for (const char* name : {"a.3gp", "b.3G2", "c.awb", "d.amr"}) CHECK(is_phone_audio_path(name));
  CHECK_FALSE(is_phone_audio_path("notes.txt"));
}

TEST_CASE("a playlist or file list named like a voice memo is refused, not followed",
          "[device][unit]") {
  // FFmpeg picks a demuxer by the content: a concat list or an HLS playlist named .m4a made
  // it read the files (or URLs) listed, and the device took them as this recording.
  TempDir dir("dev");
  const std::string memo = std::string(FP_SOURCE_DIR) + "/tests/data/memo-8k-mono.m4a";
  fs::copy_file(memo, dir.file("memo.m4a"));
  std::ofstream(dir.file("list.m4a")) << "ffconcat version 1.0\nfile memo.m4a\n";  // relative
  std::ofstream(dir.file("playlist.m4a"))
      << "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:" << memo << "\n#EXT-X-ENDLIST\n";
  for (const std::string name : {"list.m4a", "playlist.m4a"}) {
    INFO(name);
    auto audio = read_phone_audio(dir.file(name));
    REQUIRE_FALSE(audio.ok());
    CHECK_THAT(audio.status().message(), Catch::StartsWith(dir.file(name) + ": "));
  }
}

TEST_CASE("WAV at any rate and channel count goes through the spec's log-mel", "[device][unit]") {
  TempDir dir("dev");
  const ModelSpec spec = audio_spec();
  write_wav_mono(dir.file("a8k.wav"), 8000, 1, tone(8000, 0.5, 440));
  write_wav_mono(dir.file("a16k.wav"), 16000, 2, tone(16000, 0.5, 440));
  auto a = decode_audio_file(dir.file("a8k.wav"), spec);
  auto b = decode_audio_file(dir.file("a16k.wav"), spec);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->sizes() == torch::IntArrayRef({1, 32, 32}));
  // The same tone, resampled: the same spectrogram up to resampling noise.
  CHECK((*a - *b).abs().mean().item<double>() < 0.15);
  // An 8 kHz file is exactly the training front end.
  std::vector<float> samples = tone(8000, 0.5, 440);
  auto direct = log_mel_spectrogram(samples, LogMelConfig{});
  CHECK((*a - direct).abs().mean().item<double>() < 0.02);  // 16-bit quantisation only
  CHECK(resample(samples, 8000, 16000).size() == 2 * samples.size());
  write_wav_mono(dir.file("empty.wav"), 8000, 1, {});
  CHECK_FALSE(decode_audio_file(dir.file("empty.wav"), spec).ok());
  CHECK_FALSE(decode_audio_file(dir.file("a8k.wav"), image_spec()).ok());
  // A 10 KB file at 1 Hz would be 40 million samples at 8 kHz (4.5 GB and 12 s for a 40 KB
  // one before): refused before resampling.
  write_wav_mono(dir.file("slow.wav"), 1, 1, std::vector<float>(5000, 0.1f));
  auto slow = decode_audio_file(dir.file("slow.wav"), spec);
  REQUIRE_FALSE(slow.ok());
  CHECK_THAT(slow.status().message(),
             Catch::EndsWith("slow.wav: too long at the model's rate (5000 samples at 1 Hz would "
                             "be 40000000 at 8000 Hz; at most 33554432 are read)"));
}

TEST_CASE("recordings most of which the model never hears are counted and said", "[device][unit]") {
  // The model hears a window of 32 hops of 128 samples at 8 kHz (0.512 s): a longer
  // recording is cut to its middle. Up to twice that is the training set's own spread.
  TempDir dir("dev");
  const ModelSpec spec = audio_spec();
  write_wav_mono(dir.file("short.wav"), 8000, 1, tone(8000, 0.4, 440));
  write_wav_mono(dir.file("fsdd-like.wav"), 16000, 1, tone(16000, 1.0, 440));
  double seconds = 0;
  REQUIRE(decode_audio_file(dir.file("fsdd-like.wav"), spec, &seconds).ok());
  CHECK(seconds == Approx(1.0));
  SkipLog log;
  std::vector<FolderItem> items = {{dir.file("short.wav"), -1}, {dir.file("fsdd-like.wav"), -1}};
  CHECK(decode_items(items, spec, log).size(0) == 2);
  CHECK(log.decoded_recordings == 2);
  CHECK(log.long_recordings == 0);
  CHECK(log.long_recordings_summary().empty());
  // A 5-second memo: 90 % of it is never heard.
  write_wav_mono(dir.file("memo.wav"), 44100, 2, tone(44100, 5.0, 440));
  items.push_back({dir.file("memo.wav"), -1});
  SkipLog again;
  CHECK(decode_items(items, spec, again).size(0) == 3);
  CHECK(again.count == 0);  // used, not skipped
  CHECK(again.long_recordings == 1);
  CHECK(again.long_recordings_summary() ==
        "1 of the 3 recording(s) read are more than twice as long as the model's window of 0.51 "
        "s (the longest 5.00 s): the model hears only the middle 0.51 s of each; cut long "
        "recordings into clips about that long to use all of them");
  CHECK(again.short_recordings == 0);
  CHECK(again.recording_warnings() == std::vector<std::string>{again.long_recordings_summary()});
  // A click of 10 ms, shorter than one analysis frame (256 samples at 8 kHz: 32 ms), was
  // used without a word, as was a recording of one sample.
  write_wav_mono(dir.file("click.wav"), 8000, 1, tone(8000, 0.01, 440));
  write_wav_mono(dir.file("one.wav"), 8000, 1, {0.5f});
  items = {{dir.file("short.wav"), -1}, {dir.file("click.wav"), -1}, {dir.file("one.wav"), -1}};
  SkipLog clicks;
  CHECK(decode_items(items, spec, clicks).size(0) == 3);
  CHECK(clicks.short_recordings == 2);
  CHECK(clicks.long_recordings == 0);
  CHECK(clicks.recording_warnings() ==
        std::vector<std::string>{
            "2 of the 3 recording(s) read are shorter than one analysis frame of 32 ms (the "
            "shortest 0.0001 s): not a whole frame of sound each, they tell Fine-Pruning next "
            "to nothing of the individual"});
}

TEST_CASE("a folder is listed recursively and unusable files are skipped with reasons",
          "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 40);
  REQUIRE(test.ok());
  TempDir dir("dev");
  fs::create_directories(dir.file("a/b"));
  for (int64_t i = 0; i < 30; ++i)
    write_png(*test, i, dir.file((i % 2 ? "a/b/" : "") + std::to_string(i) + ".png"));
  std::ofstream(dir.file("readme.txt")) << "hello";
  std::ofstream(dir.file("a/broken.png")) << "garbage";
  write_wav_mono(dir.file("a/voice.wav"), 8000, 1, tone(8000, 0.2, 300));
  // Hidden files and folders are not listed: a phone's thumbnails and the photos its owner
  // deleted, a Mac's ._* companions (before session 37 all of them were data).
  fs::create_directories(dir.file(".thumbnails/x"));
  write_png(*test, 30, dir.file(".thumbnails/x/30.png"));
  write_png(*test, 31, dir.file("a/.trashed-1733000000-31.png"));
  std::ofstream(dir.file("._0.png")) << "AppleDouble";
  std::ofstream(dir.file(".DS_Store")) << "Mac";
  auto listing = list_folder(dir.path.string());
  REQUIRE(listing.ok());
  CHECK(listing->items.size() == 32);  // 30 pictures, the broken one, the recording
  for (const auto& item : listing->items) CHECK(item.path.find("/.") == std::string::npos);
  CHECK(listing->skipped.count == 1);
  CHECK(listing->skipped.first.at(0).find("readme.txt") != std::string::npos);
  // What is no regular file is counted, not opened (it was left out without a word): a
  // broken link, a FIFO (it would wait for a writer), a link to a folder (not followed).
  TempDir odd("dev");
  fs::create_symlink(odd.file("gone.png"), odd.file("broken.png"));
  REQUIRE(::mkfifo(odd.file("fifo.png").c_str(), 0600) == 0);
  fs::create_symlink(dir.file("a"), odd.file("elsewhere"));
  auto odd_listing = list_folder(odd.path.string());
  REQUIRE(odd_listing.ok());
  CHECK(odd_listing->items.empty());
  CHECK(odd_listing->skipped.count == 3);
  CHECK_THAT(odd_listing->skipped.summary(),
             Catch::Contains("broken.png: not a regular file (a broken link, a FIFO") &&
                 Catch::Contains("fifo.png: not a regular file") &&
                 Catch::Contains("elsewhere: a link to a folder: not followed"));

  // A folder the program's user cannot read: the top one is named as such (it was "no usable
  // file (0 of another type)"), a subfolder is counted among the skipped. Root reads any
  // folder, so as root the listing runs in a child as nobody.
  fs::create_directories(dir.file("locked/inner"));
  fs::create_directories(dir.file("open/private"));
  write_png(*test, 0, dir.file("open/0.png"));
  write_png(*test, 1, dir.file("open/private/1.png"));
  fs::permissions(dir.path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(dir.file("open"), fs::perms::owner_all | fs::perms::others_read |
                                        fs::perms::others_exec | fs::perms::group_read |
                                        fs::perms::group_exec);
  fs::permissions(dir.file("locked"), fs::perms::none);
  fs::permissions(dir.file("open/private"), fs::perms::none);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(90);
    auto whole = list_folder(dir.file("locked"));
    if (whole.ok() || whole.status().message() != "data folder '" + dir.file("locked") +
                                                      "' cannot be read (Permission denied)")
      ::_exit(1);
    auto part = list_folder(dir.file("open"));
    if (!part.ok() || part->items.size() != 1 || part->skipped.count != 1 ||
        part->skipped.first.at(0).find("private: a folder that cannot be read (Permission "
                                       "denied)") == std::string::npos)
      ::_exit(2);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 1: the top folder, 2: the subfolder
  fs::permissions(dir.file("locked"), fs::perms::owner_all);
  fs::permissions(dir.file("open/private"), fs::perms::owner_all);
  fs::remove_all(dir.file("locked"));
  fs::remove_all(dir.file("open"));

  SkipLog skipped;
  int64_t seen = 0, batches = 0;
  REQUIRE(for_each_batch(listing->items, image_spec(), 8, skipped,
                         [&](const torch::Tensor& x, const std::vector<const FolderItem*>& from) {
                           CHECK(x.size(0) == static_cast<int64_t>(from.size()));
                           CHECK(x.size(0) <= 8);  // one batch in memory at a time
                           seen += x.size(0);
                           ++batches;
                           return Status::ok_status();
                         })
              .ok());
  CHECK(seen == 30);
  CHECK(batches == 4);
  CHECK(skipped.count == 2);  // broken.png, voice.wav (an image model)
  CHECK(skipped.summary().find("broken.png") != std::string::npos);

  agent::FolderDataConfig c;
  c.dir = dir.path.string();
  auto data = agent::load_folder_data(c, image_spec());
  REQUIRE(data.ok());
  CHECK(data->adaptation.size() + data->heldout.size() == 30);
  CHECK_FALSE(data->heldout.has_labels());
  CHECK(data->skipped.count == 3);
  c.max_samples = 10;  // bounded: only this many are decoded
  auto few = agent::load_folder_data(c, image_spec());
  REQUIRE(few.ok());
  CHECK(few->adaptation.size() + few->heldout.size() <= 10);

  TempDir empty("dev");
  std::ofstream(empty.file("x.txt")) << "no pictures";
  c.dir = empty.path.string();
  auto none = agent::load_folder_data(c, image_spec());
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message().find("no usable file") != std::string::npos);
  c.dir = dir.file("missing");
  CHECK(agent::load_folder_data(c, image_spec()).status().message().find("does not exist") !=
        std::string::npos);

  // What fp-agent checks at its start, before it knows a model: the same two refusals.
  CHECK(agent::check_data_folder(dir.path.string()).ok());
  CHECK_THAT(agent::check_data_folder(empty.path.string()).message(),
             Catch::Contains("no usable file (1 of another type"));
  CHECK_THAT(agent::check_data_folder(dir.file("missing")).message(),
             Catch::Contains("does not exist"));
  // Files of the kind its campaigns' models take: 30 pictures and one recording here.
  CHECK(agent::check_data_folder(dir.path.string(), "fashion-mnist").ok());
  CHECK(agent::check_data_folder(dir.path.string(), "fsdd").ok());
  fs::remove(dir.file("a/voice.wav"));
  CHECK_THAT(agent::check_data_folder(dir.path.string(), "fsdd").message(),
             Catch::EndsWith("holds 31 picture(s) and no recording, but the models of fsdd "
                             "campaigns take recordings (WAV, FLAC, Ogg, MP3, M4A, 3GP, AMR): give "
                             "the --dataset its files are "
                             "for"));

  // An IDX file claiming more images than a device decodes (a gzip bomb would hold only
  // this header and zeros) is skipped from its header when the folder is listed.
  TempDir idx("dev");
  std::ofstream(idx.file("many-images-idx3-ubyte"), std::ios::binary)
      << std::string("\0\0\x08\x03\0\x01\x86\xa0\0\0\0\x1c\0\0\0\x1c", 16);  // 100000x28x28
  auto listed = list_folder(idx.path.string());
  REQUIRE(listed.ok());
  CHECK(listed->items.empty());
  CHECK_THAT(listed->skipped.summary(), Catch::Contains("too large (78400000 bytes"));

  // Walked in batches smaller than the file, an IDX file's images all come, in file order
  // (the file is decoded once for the walk, not once a batch).
  const std::string header("\0\0\x08\x03\0\0\0\x07\0\0\0\x1c\0\0\0\x1c", 16);  // 7x28x28
  std::string pixels(7 * 28 * 28, '\0');
  for (size_t i = 0; i < 7; ++i) pixels[i * 28 * 28] = static_cast<char>(10 * (i + 1));
  TempDir seven("seven");
  std::ofstream(seven.file("seven-idx3-ubyte"), std::ios::binary) << header << pixels;
  auto walked = list_folder(seven.path.string());
  REQUIRE(walked.ok());
  REQUIRE(walked->items.size() == 7);
  const ModelSpec spec = image_spec();  // 1x28x28
  SkipLog idx_skipped;
  std::vector<int64_t> order;
  std::vector<float> first_pixels;
  REQUIRE(for_each_batch(walked->items, spec, 3, idx_skipped,
                         [&](const torch::Tensor& in, const std::vector<const FolderItem*>& from) {
                           for (size_t k = 0; k < from.size(); ++k) {
                             order.push_back(from[k]->index);
                             first_pixels.push_back(
                                 in[static_cast<int64_t>(k)][0][0][0].item<float>());
                           }
                           return Status::ok_status();
                         })
              .ok());
  INFO(idx_skipped.summary());
  REQUIRE(order == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
  CHECK(std::is_sorted(first_pixels.begin(), first_pixels.end()));
  CHECK(first_pixels.front() < first_pixels.back());
  CHECK(idx_skipped.count == 0);

  // Truncated after its header: one file skipped, not one per image its header lists (it
  // was "7 file(s) skipped").
  std::ofstream(seven.file("seven-idx3-ubyte"), std::ios::binary | std::ios::trunc)
      << header << pixels.substr(0, 1000);
  auto cut = list_folder(seven.path.string());
  REQUIRE(cut.ok());
  REQUIRE(cut->items.size() == 7);  // the header's count: the payload is read when decoded
  int idx_batches = 0;
  REQUIRE(for_each_batch(cut->items, spec, 3, idx_skipped,
                         [&](const torch::Tensor&, const std::vector<const FolderItem*>&) {
                           ++idx_batches;
                           return Status::ok_status();
                         })
              .ok());
  CHECK(idx_batches == 0);
  CHECK(idx_skipped.count == 1);
  CHECK_THAT(idx_skipped.summary(),
             Catch::StartsWith("1 file(s) skipped") && Catch::Contains("truncated IDX payload"));

  // A shuffled sample alternating between two IDX files (a device's adaptation set) reads
  // each once and returns the images in the sample's order: it read a file again at every
  // switch (two copies of Fashion-MNIST's test file: 48 s and 3.5 GB for 400 images), and the
  // damaged one was counted at every switch ("47 file(s) skipped").
  std::ofstream(seven.file("whole-idx3-ubyte"), std::ios::binary) << header << pixels;
  auto two = list_folder(seven.path.string());
  REQUIRE(two.ok());
  REQUIRE(two->items.size() == 14);  // the cut file's 7 (by its header), then the whole one's
  std::vector<FolderItem> alternating;
  for (size_t i = 0; i < 7; ++i) {
    alternating.push_back(two->items[7 + (6 - i)]);  // the whole file's, backwards
    alternating.push_back(two->items[i]);            // the cut file's
  }
  SkipLog shuffled_log;
  std::vector<size_t> kept;
  torch::Tensor got = decode_items(alternating, spec, shuffled_log, &kept);
  CHECK(shuffled_log.count == 1);
  REQUIRE(kept == std::vector<size_t>{0, 2, 4, 6, 8, 10, 12});
  REQUIRE(got.size(0) == 7);
  std::vector<float> firsts;  // images 6, 5, ... 0 of the whole file: first pixels 70 ... 10
  for (int64_t k = 0; k < 7; ++k) firsts.push_back(got[k][0][0][0].item<float>());
  CHECK(std::is_sorted(firsts.rbegin(), firsts.rend()));
  CHECK(firsts.front() > firsts.back());

  // A header listing more images than a device's IDX file may hold is refused when the
  // folder is listed (64 KiB claiming 2^26 one-pixel images listed 6 GB of items).
  TempDir many("dev");
  std::ofstream(many.file("tiny-idx3-ubyte"), std::ios::binary)
      << std::string("\0\0\x08\x03\0\x20\0\0\0\0\0\x01\0\0\0\x01", 16);  // 2^21 x 1 x 1
  auto crowded = list_folder(many.path.string());
  REQUIRE(crowded.ok());
  CHECK(crowded->items.empty());
  CHECK_THAT(crowded->skipped.summary(),
             Catch::Contains("its header lists 2097152 images, more than an IDX file of a "
                             "device's folder may (1048576)"));

  // A linked file is named as listed, not by its target's path (labels are keyed by it).
  fs::create_directories(many.file("elsewhere"));
  std::ofstream(many.file("elsewhere/x.png")) << "x";
  fs::create_directories(many.file("photos"));
  fs::create_symlink("../elsewhere/x.png", many.file("photos/alias.png"));
  CHECK(FolderItem{many.file("photos/alias.png"), -1}.name(many.file("photos")) == "alias.png");
  CHECK(FolderItem{many.file("photos/alias.png"), -1}.name(many.file("photos") + "/") ==
        "alias.png");
}

// A task's error leaves the device as its failure reason: it may say why, never which file.
// Usable files that tell Fine-Pruning less than their count says are counted and warned
// about: copies (60 copies of one picture passed --min-samples and pruned to two classes) and
// constant inputs (black or white pictures, silence).
TEST_CASE("a data folder's copies and constant inputs are counted", "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 10);
  REQUIRE(test.ok());
  TempDir dir("uninformative");
  for (int64_t i = 0; i < 10; ++i) write_png(*test, i, dir.file("p" + std::to_string(i) + ".png"));
  agent::FolderDataConfig c;
  c.dir = dir.path.string();
  auto plain = agent::load_folder_data(c, image_spec());
  REQUIRE(plain.ok());
  CHECK(plain->repeated_inputs == 0);
  CHECK(plain->constant_inputs == 0);

  for (int copy = 0; copy < 3; ++copy)
    fs::copy_file(dir.file("p0.png"), dir.file("copy" + std::to_string(copy) + ".png"));
  const std::vector<uint8_t> black(28 * 28, 0);
  for (const char* name : {"black-a.png", "black-b.png"})
    REQUIRE(stbi_write_png(dir.file(name).c_str(), 28, 28, 1, black.data(), 28));
  auto some = agent::load_folder_data(c, image_spec());
  REQUIRE(some.ok());
  CHECK(some->adaptation.size() + some->heldout.size() == 15);
  CHECK(some->repeated_inputs == 4);  // three copies of p0, one black picture of the other
  CHECK(some->constant_inputs == 2);
}

TEST_CASE("a folder task's error counts the skipped files by reason and names none",
          "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 9);
  REQUIRE(test.ok());
  TempDir dir("private");
  const std::string folder = dir.file("jane-doe-photos");
  fs::create_directories(folder + "/clinic");
  std::ofstream(folder + "/clinic/scan-of-jane.png") << "garbage";
  std::ofstream(folder + "/clinic/referral-jane.png") << "more garbage";
  std::ofstream(folder + "/diary-jane.txt") << "dear diary";
  write_wav_mono(folder + "/voicemail-jane.wav", 8000, 1, tone(8000, 0.2, 300));
  const std::vector<std::string> private_names{"jane", folder, "clinic", "scan-of", "diary"};
  auto names_none = [&](const Status& s) {
    INFO(s.to_string());
    for (const auto& n : private_names) CHECK(s.message().find(n) == std::string::npos);
  };

  agent::FolderDataConfig c;
  c.dir = folder;
  auto none = agent::load_folder_data(c, image_spec());
  REQUIRE_FALSE(none.ok());
  names_none(none.status());
  CHECK_THAT(
      none.status().message(),
      Catch::Contains("the data folder has 0 usable file(s) for this") &&
          Catch::Contains("4 file(s) skipped: 2 not a readable image") &&
          Catch::Contains("1 audio, but the model takes") &&
          Catch::Contains("1 not a recording (WAV, FLAC, Ogg, MP3, M4A, 3GP, AMR), picture (PNG, "
                          "JPEG, HEIC) or IDX file"));
  // The device's own check at its start is local: it names them.
  write_png(*test, 0, folder + "/clinic/one-good-jane.png");
  auto one = agent::load_folder_data(c, image_spec());
  REQUIRE_FALSE(one.ok());
  names_none(one.status());
  CHECK_THAT(one.status().message(),
             Catch::Contains("1 usable file(s)") && Catch::Contains("at least 10 needed"));
  // Nine pictures are still too few to personalize on (three gave a model that got 0 of 60
  // right), unless the device is told otherwise.
  for (int i = 1; i < 9; ++i)
    write_png(*test, i, folder + "/clinic/good-" + std::to_string(i) + ".png");
  auto nine = agent::load_folder_data(c, image_spec());
  REQUIRE_FALSE(nine.ok());
  CHECK_THAT(nine.status().message(),
             Catch::Contains("9 usable file(s)") && Catch::Contains("at least 10 needed"));
  c.min_samples = 9;
  auto allowed = agent::load_folder_data(c, image_spec());
  REQUIRE(allowed.ok());
  CHECK(allowed->adaptation.size() + allowed->heldout.size() == 9);
  // A held-out fraction leaving Fine-Pruning fewer than half of --min-samples is refused (at
  // 0.95 it Fine-Pruned on one file of nine, without a word).
  c.eval_fraction = 0.95;
  auto one_read = agent::load_folder_data(c, image_spec());
  REQUIRE_FALSE(one_read.ok());
  names_none(one_read.status());
  CHECK(one_read.status().message() ==
        "--eval-fraction 0.95 holds out 8 of the 9 usable file(s), leaving Fine-Pruning 1; at "
        "least 4 needed (half of --min-samples: the statistics of fewer describe those files, "
        "not the individual): hold out less, or add files");
  c.eval_fraction = agent::FolderDataConfig{}.eval_fraction;
  // Labels for some of the held-out files narrow the accuracy to them, not the count: a
  // folder of enough files was refused as holding too few when a held-out file was left
  // unlabeled. Each file in turn is left out of the labels file; some are held out.
  const std::vector<std::string> nine_files = {
      "clinic/one-good-jane.png", "clinic/good-1.png", "clinic/good-2.png",
      "clinic/good-3.png",        "clinic/good-4.png", "clinic/good-5.png",
      "clinic/good-6.png",        "clinic/good-7.png", "clinic/good-8.png"};
  c.labels_file = dir.file("labels-nine.csv");
  for (const auto& unlabeled : nine_files) {
    std::ofstream listed(c.labels_file);
    listed << "path,label\n";
    for (const auto& f : nine_files)
      if (f != unlabeled) listed << f << ",Sandal\n";
    listed.close();
    INFO(unlabeled << " unlabeled");
    auto partly = agent::load_folder_data(c, image_spec());
    INFO(partly.status().to_string());
    REQUIRE(partly.ok());
    CHECK(partly->adaptation.size() == 4);
    CHECK(partly->heldout.has_labels());
  }
  c.labels_file.clear();
  c.min_samples = agent::FolderDataConfig{}.min_samples;
  fs::remove(folder + "/clinic/one-good-jane.png");
  for (int i = 1; i < 9; ++i) fs::remove(folder + "/clinic/good-" + std::to_string(i) + ".png");

  c.labels_file = folder + "/labels-jane.csv";
  std::ofstream(c.labels_file) << "path,label\nclinic/scan-of-jane.png,Spaceship\n";
  auto labels = agent::load_folder_data(c, image_spec());
  REQUIRE_FALSE(labels.ok());
  names_none(labels.status());
  // Its lines quote file names and labels: the device's log says which, not the error.
  CHECK(labels.status().message() == "the labels file cannot be used (the device's log says why)");
  CHECK(labels.status().code() == Status::Code::kInvalidArgument);
  c.labels_file = folder + "/missing-jane.csv";
  names_none(agent::load_folder_data(c, image_spec()).status());
  c.labels_file.clear();
  c.dir = folder + "/gone-jane";
  auto gone = agent::load_folder_data(c, image_spec());
  names_none(gone.status());
  CHECK_THAT(gone.status().message(),
             Catch::StartsWith("data folder '<data folder>' does not exist"));
  // A short relative folder is replaced where it stands as a path, not inside words.
  c.dir = "d";
  CHECK(agent::load_folder_data(c, image_spec()).status().message() ==
        "data folder '<data folder>' does not exist or is not a folder");

  // The local form keeps the names; the reasons are counted without them.
  SkipLog log;
  log.add("a/x.png", "a/x.png: not a readable image (outofdata)");
  log.add("a/y.png", "a/y.png: not a readable image (outofdata)");
  log.add("b.idx", "cannot read b.idx at byte 16");
  CHECK(log.count == 3);
  CHECK(log.first.size() == 3);
  CHECK(log.summary() ==
        "3 file(s) skipped, e.g. a/x.png: not a readable image (outofdata); "
        "a/y.png: not a readable image (outofdata); cannot read b.idx at byte 16");
  CHECK(log.anonymous_summary() ==
        "3 file(s) skipped: 2 not a readable image (outofdata); 1 cannot read <file> at byte 16");
}

TEST_CASE("fp-agent's start refuses an id, work folder or labels file that cannot work",
          "[device][unit]") {
  TempDir dir("start");
  CHECK(agent::check_agent_id("phone-1").ok());
  CHECK(agent::check_agent_id("alice@lab/device=3+4").ok());
  for (const std::string& bad :
       std::vector<std::string>{"bad id", "", "tab\tid", "semi;colon", std::string(129, 'a')}) {
    INFO(bad);
    Status s = agent::check_agent_id(bad);
    CHECK(s.code() == Status::Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::StartsWith("agent id '" + bad + "': Hello"));
  }

  // Without --id: one made on the first start and kept in the work folder, so a restarted
  // device is the same agent and the same individual ("device=<id>").
  bool made = false;
  auto first = agent::stored_or_new_agent_id(dir.file("idwork"), &made);
  REQUIRE(first.ok());
  CHECK(made);
  CHECK(agent::check_agent_id(*first).ok());
  // Nothing of the host (it was its name: often its owner's, and the coordinator stores ids).
  CHECK(std::regex_match(*first, std::regex("device-[0-9a-f]{16}")));
  fs::create_directories(dir.file("idwork"));
  REQUIRE(agent::keep_agent_id(dir.file("idwork"), *first).ok());
  auto again = agent::stored_or_new_agent_id(dir.file("idwork"), &made);
  REQUIRE(again.ok());
  CHECK_FALSE(made);
  CHECK(*again == *first);
  auto other = agent::stored_or_new_agent_id(dir.file("otherwork"), &made);  // a second agent
  REQUIRE(other.ok());
  CHECK(*other != *first);
  std::ofstream(dir.file("idwork/agent.id")) << "my phone\n";
  CHECK_THAT(agent::stored_or_new_agent_id(dir.file("idwork"), &made).status().message(),
             Catch::Contains("agent.id: agent id 'my phone'") &&
                 Catch::EndsWith("(remove the file for a new id, or give --id)"));

  const std::string fresh = dir.file("work/nested");
  CHECK(agent::prepare_work_dir(fresh).ok());
  CHECK(fs::is_directory(fresh));
  std::ofstream(dir.file("a-file")) << "x";
  CHECK_THAT(agent::prepare_work_dir(dir.file("a-file")).message(),
             Catch::Contains("work folder " + dir.file("a-file") + " is not a folder"));
  CHECK_THAT(agent::prepare_work_dir(dir.file("a-file/below")).message(),
             Catch::Contains("is not a folder and cannot be made"));
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directories(dir.file("locked"));
    fs::permissions(dir.file("locked"), fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THAT(agent::prepare_work_dir(dir.file("locked")).message(),
               Catch::Contains("cannot be written to"));
    fs::permissions(dir.file("locked"), fs::perms::owner_all);
  }
  // A part of it that is a file: every report's outbox copy failed with a warning, so a
  // restart resent none of them. The check (fp-agent --check) says the same, making nothing.
  std::ofstream(fresh + "/outbox") << "x";
  const std::string outbox_file =
      fresh +
      "/outbox (for unacknowledged reports) is not a folder: move it away, or give "
      "another --work-dir";
  CHECK(agent::prepare_work_dir(fresh).message() == outbox_file);
  CHECK(agent::check_work_dir(fresh).message() == outbox_file);
  fs::remove(fresh + "/outbox");
  fs::create_directories(fresh + "/outbox");
  std::ofstream(fresh + "/personalized") << "x";
  CHECK_THAT(agent::check_work_dir(fresh).message(),
             Catch::StartsWith(fresh + "/personalized (for personalized models) is not a folder"));
  fs::remove(fresh + "/personalized");
  CHECK(agent::check_work_dir(fresh).ok());

  CHECK(agent::check_labels_file(dir.file("a-file")).ok());
  CHECK(agent::check_labels_file(dir.file("none.csv")).message() ==
        "labels file " + dir.file("none.csv") + " does not exist");
  CHECK(agent::check_labels_file(dir.file("work")).message() ==
        "labels file " + dir.file("work") + " is not a file");
}

TEST_CASE("a labels file labels the held-out part; bad lines are named", "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 40);
  REQUIRE(test.ok());
  TempDir dir("dev");
  fs::create_directories(dir.file("pics"));
  std::ofstream labels(dir.file("labels.csv"));
  labels << "path,label\n";
  auto y = test->label_vector();
  for (int64_t i = 0; i < 40; ++i) {
    write_png(*test, i, dir.file("pics/" + std::to_string(i) + ".png"));
    // Half by class name, half by id.
    labels << i << ".png," << (i % 2 ? test->class_names[y[i]] : std::to_string(y[i])) << "\n";
  }
  labels.close();
  agent::FolderDataConfig c;
  c.dir = dir.file("pics");
  c.labels_file = dir.file("labels.csv");
  auto data = agent::load_folder_data(c, image_spec());
  REQUIRE(data.ok());
  REQUIRE(data->heldout.has_labels());
  CHECK(data->heldout.size() == 20);
  CHECK(data->heldout_inputs.size(0) == 20);
  CHECK_FALSE(data->adaptation.has_labels());

  // Labels for only some held-out files: the accuracy is theirs; the label-free figures need
  // none and are measured on every held-out file, as without labels (they were measured on
  // the labeled ones alone, and adding labels changed them).
  {
    std::ofstream some(dir.file("some.csv"));
    for (int64_t i = 0; i < 40; i += 4) some << i << ".png," << y[i] << "\n";
  }
  agent::FolderDataConfig partial = c, none = c;
  partial.labels_file = dir.file("some.csv");
  none.labels_file.clear();
  auto part = agent::load_folder_data(partial, image_spec());
  auto unlabeled = agent::load_folder_data(none, image_spec());
  REQUIRE(part.ok());
  REQUIRE(unlabeled.ok());
  REQUIRE(part->heldout.size() > 0);
  REQUIRE(part->heldout.size() < 20);
  CHECK(part->heldout_inputs.size(0) == 20);
  CHECK(torch::equal(part->heldout_inputs, unlabeled->heldout.inputs));
  torch::manual_seed(2);
  auto model = build_model(image_spec());
  REQUIRE(model.ok());
  ArtifactInfo info;
  info.spec = image_spec();
  PersonalizeConfig pc;
  pc.run_finetune = pc.run_svd = false;
  PersonalizeConfig pc2 = pc;
  auto with_some = agent::personalize_on_device(**model, info, part->adaptation, part->heldout, pc,
                                                "some", part->heldout_inputs);
  auto without = agent::personalize_on_device(**model, info, unlabeled->adaptation,
                                              unlabeled->heldout, pc2, "none");
  REQUIRE(with_some.ok());
  REQUIRE(without.ok());
  CHECK(with_some->evaluated);
  CHECK(with_some->evaluation_samples == part->heldout.size());
  CHECK(with_some->label_free_samples == 20);
  CHECK(without->label_free_samples == 20);
  CHECK(with_some->label_free.confidence_before == Approx(without->label_free.confidence_before));
  CHECK(with_some->label_free.confidence_after == Approx(without->label_free.confidence_after));
  CHECK(with_some->label_free.agreement == Approx(without->label_free.agreement));

  std::ofstream(dir.file("bad.csv")) << "path,label\n1.png,3\n2.png,Spaceship\n";
  auto bad = agent::read_labels_csv(dir.file("bad.csv"), image_spec());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("bad.csv:3") != std::string::npos);
  CHECK(bad.status().message().find("Spaceship") != std::string::npos);
  std::ofstream(dir.file("twice.csv")) << "1.png,3\n2.png,4\n./1.png,5\n";
  CHECK_THAT(agent::read_labels_csv(dir.file("twice.csv"), image_spec()).status().message(),
             Catch::EndsWith("twice.csv:3: '1.png' is labeled again (first on line 1)"));

  // As a spreadsheet exports it (byte order mark, CRLF), with paths written three ways.
  std::ofstream excel(dir.file("excel.csv"), std::ios::binary);
  excel << "\xEF\xBB\xBFpath,label\r\n";
  for (int64_t i = 0; i < 40; ++i) {
    const std::string name = std::to_string(i) + ".png";
    excel << (i % 3 == 0   ? "./" + name
              : i % 3 == 1 ? dir.file("pics/" + name)
                           : name)
          << "," << y[i] << "\r\n";
  }
  excel.close();
  c.labels_file = dir.file("excel.csv");
  auto exported = agent::load_folder_data(c, image_spec());
  REQUIRE(exported.ok());
  REQUIRE(exported->heldout.has_labels());
  CHECK(exported->heldout.size() == 20);
  CHECK(torch::equal(exported->heldout.labels, data->heldout.labels));
  // One file by its path and by its name: twice, though written differently. The error
  // leaves the device: it names no file (the device's log does).
  std::ofstream(dir.file("both.csv")) << "1.png,1\n" << dir.file("pics/1.png") << ",1\n";
  c.labels_file = dir.file("both.csv");
  CHECK(agent::load_folder_data(c, image_spec()).status().message() ==
        "the labels file cannot be used (the device's log says why)");
}

namespace {

// Task 1 on a new image model saved as <dir>/general.fpm (for a FinePruneRunner).
proto::TaskAssignment task_on_new_model(const TempDir& dir) {
  torch::manual_seed(5);
  auto general = build_model(image_spec());
  REQUIRE(general.ok());
  REQUIRE(save_model(**general, dir.file("general.fpm")).ok());
  proto::TaskAssignment task;
  task.task_id = 1;
  task.model_sha256 = *sha256_file_hex(dir.file("general.fpm"));
  task.model_spec_json = image_spec().to_json();
  return task;
}

}  // namespace

// A device runs for months: each task personalizes on the files its folder holds then.
TEST_CASE("a device's task reads its folder again when its files changed", "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 40);
  REQUIRE(test.ok());
  TempDir dir("dev");
  fs::create_directories(dir.file("pics"));
  for (int64_t i = 0; i < 20; ++i)
    write_png(*test, i, dir.file("pics/" + std::to_string(i) + ".png"));
  proto::TaskAssignment task = task_on_new_model(dir);
  task.prune_config_json = R"({"target_sparsity": 0.3})";
  task.dataset = "fashion-mnist";
  task.individual = "device=cam";
  agent::FinePruneRunnerConfig config;
  config.data.dataset = "fashion-mnist";
  config.folder.dir = dir.file("pics");
  agent::FinePruneRunner runner(config);
  std::atomic<bool> cancel{false};
  auto samples = [&]() -> int64_t {
    auto reports = runner.run(task, agent::ModelSource(dir.file("general.fpm")), cancel);
    REQUIRE(reports.ok());
    return static_cast<int64_t>(reports->front().adaptation_samples +
                                reports->front().eval_samples);
  };
  CHECK(samples() == 20);
  CHECK(samples() == 20);  // unchanged: the decoded data are reused
  for (int64_t i = 20; i < 40; ++i)
    write_png(*test, i, dir.file("pics/" + std::to_string(i) + ".png"));
  CHECK(samples() == 40);  // new files: read again
  fs::remove(dir.file("pics/3.png"));
  CHECK(samples() == 39);

  // A campaign's baselines need labels this device does not have: Fine-Pruning alone runs
  // (a plain fine-tuning failed the task; a label-free one reported unscored figures).
  task.baselines = {"finetune", "svd", "finetune_plain", "adabn"};
  auto reports = runner.run(task, agent::ModelSource(dir.file("general.fpm")), cancel);
  REQUIRE(reports.ok());
  REQUIRE(reports->size() == 1);
  CHECK(reports->front().method == "fine_prune");
}

// A task's failure reason leaves the device (the coordinator stores and logs it).
TEST_CASE("a built-in data set that cannot be loaded names no file of the device",
          "[device][unit]") {
  TempDir dir("dev");
  // FSDD's file names hold the speaker and the digit; the folder may be the owner's.
  const std::string fsdd = dir.file("jane.smith/fsdd");
  fs::create_directories(fsdd + "/recordings");
  std::ofstream(fsdd + "/recordings/3_jane_9.wav") << "not a recording";
  proto::TaskAssignment task = task_on_new_model(dir);
  task.dataset = "fsdd";
  task.individual = "speaker=jane";
  agent::FinePruneRunnerConfig config;
  config.data.dataset = "fsdd";
  config.data.data_dir = fsdd;
  agent::FinePruneRunner runner(config);
  std::atomic<bool> cancel{false};
  auto reports = runner.run(task, agent::ModelSource(dir.file("general.fpm")), cancel);
  REQUIRE_FALSE(reports.ok());
  CHECK(reports.status().message() ==
        "the fsdd data of individual 'speaker=jane' cannot be loaded (the device's log says why)");
}

TEST_CASE("without labels personalize prunes and reports nothing evaluated", "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 200);
  REQUIRE(test.ok());
  torch::manual_seed(3);
  auto model = build_model(image_spec());
  REQUIRE(model.ok());
  auto [adapt, held] = split_at(test->without_labels(), 150);
  PersonalizeConfig config;
  config.select_sparsity = false;
  config.prune.target_sparsity = 0.5;
  config.run_finetune = false;
  config.run_svd = false;
  auto r = personalize(**model, adapt, held, config);
  REQUIRE(r.ok());
  CHECK_FALSE(r->evaluated);
  CHECK(r->sparsity.sparsity() == Approx(0.5).margin(0.1));
  config.run_finetune = true;  // a baseline that needs labels is refused, not faked
  CHECK_FALSE(personalize(**model, adapt, held, config).ok());

  // The label-free figures, without labels, against the two models run here.
  const LabelFreeFigures& figures = r->label_free;
  auto [p_before, c_before] = predict_proba(**model, held.inputs).max(1);
  auto [p_after, c_after] = predict_proba(*r->personalized, held.inputs).max(1);
  CHECK(figures.confidence_before == Approx(p_before.mean().item<double>()));
  CHECK(figures.confidence_after == Approx(p_after.mean().item<double>()));
  CHECK(figures.agreement == Approx(c_before.eq(c_after).to(torch::kDouble).mean().item<double>()));
  const torch::Tensor p = predict_proba(**model, held.inputs);
  auto same = label_free_figures(p, p);
  CHECK(same.agreement == 1.0);
  CHECK(same.confidence_after == same.confidence_before);
}

TEST_CASE("the kept model is verified by its hash and predicts a folder", "[device][unit]") {
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 30);
  REQUIRE(test.ok());
  torch::manual_seed(4);
  auto model = build_model(image_spec());
  REQUIRE(model.ok());
  TempDir dir("dev");
  const std::string general_sha(64, 'a');
  auto kept = agent::keep_model(**model, dir.file("personalized"), general_sha, "device=x", 7);
  REQUIRE(kept.ok());
  CHECK(kept->form == "compact");  // pruned units physically removed (models/compact.h)
  auto latest = agent::latest_kept_model(dir.file("personalized"));
  REQUIRE(latest.ok());
  CHECK(latest->sha256 == kept->sha256);
  CHECK(latest->general_sha256 == general_sha);
  CHECK(latest->bytes == fs::file_size(kept->path));

  fs::create_directories(dir.file("pics"));
  for (int64_t i = 0; i < 30; ++i)
    write_png(*test, i, dir.file("pics/" + std::to_string(i) + ".png"));
  std::vector<agent::Prediction> got;
  int64_t last_done = 0;
  auto summary = agent::predict_folder(
      **model, dir.file("pics"), 8, [&](const agent::Prediction& p) { got.push_back(p); },
      [&](int64_t done, int64_t total) {
        CHECK(total == 30);
        last_done = done;
      });
  REQUIRE(summary.ok());
  CHECK(summary->predicted == 30);
  CHECK(last_done == 30);
  REQUIRE(got.size() == 30);
  torch::NoGradGuard guard;
  (*model)->eval();
  auto expected = (*model)->forward(test->inputs).argmax(1);
  std::map<std::string, int64_t> by_file;
  for (const auto& p : got) by_file[p.file] = p.class_id;
  for (int64_t i = 0; i < 30; ++i)
    CHECK(by_file.at(std::to_string(i) + ".png") == expected[i].item<int64_t>());
  CHECK(got.front().class_name == image_spec().class_names[got.front().class_id]);
  // The kept (compact) model is the one predict uses: it classifies as the model it came from.
  auto reloaded = load_model(kept->path);
  REQUIRE(reloaded.ok());
  CHECK((*reloaded)->spec().is_compact());
  (*reloaded)->eval();
  CHECK(torch::equal((*reloaded)->forward(test->inputs).argmax(1), expected));

  // A changed model file is refused.
  std::ofstream(kept->path, std::ios::app) << "tampered";
  auto changed = agent::latest_kept_model(dir.file("personalized"));
  REQUIRE_FALSE(changed.ok());
  CHECK(changed.status().message().find("SHA-256") != std::string::npos);
  // A damaged or missing latest.json says so, and names the kept model to give instead (it
  // was the JSON library's "cannot use at() with discarded", or "run a task first").
  const std::string manifest = dir.file("personalized/latest.json");
  std::ofstream(manifest, std::ios::trunc) << "{\"model\": ";
  CHECK_THAT(agent::latest_kept_model(dir.file("personalized")).status().message(),
             Catch::StartsWith(manifest +
                               " is damaged (not a JSON manifest): 1 personalized "
                               "model(s) there, e.g. " +
                               kept->path + ": give one with --model"));
  // A field of the wrong type or missing was the library's "[json.exception.type_error.302]".
  std::ofstream(manifest, std::ios::trunc) << "{\"model\": 5, \"sha256\": \"ab\"}";
  CHECK_THAT(agent::latest_kept_model(dir.file("personalized")).status().message(),
             Catch::StartsWith(manifest + ": 'model' type must be string, but is number: 1 "
                                          "personalized model(s) there"));
  std::ofstream(manifest, std::ios::trunc) << "{\"model\": \"x.fpm\"}";
  CHECK_THAT(agent::latest_kept_model(dir.file("personalized")).status().message(),
             Catch::StartsWith(manifest + ": 'sha256' is missing: 1 personalized model(s)"));
  fs::remove(manifest);
  CHECK_THAT(
      agent::latest_kept_model(dir.file("personalized")).status().message(),
      Catch::Contains("(no latest.json): 1 personalized model(s) there, e.g. " + kept->path));
  // A folder in its place escaped as the stream's "basic_filebuf::underflow" exception.
  fs::create_directory(manifest);
  CHECK_THAT(agent::latest_kept_model(dir.file("personalized")).status().message(),
             Catch::StartsWith("manifest " + manifest + " is not a regular file") &&
                 Catch::Contains("1 personalized model(s) there"));
  auto removed = agent::remove_older_kept_models(dir.file("personalized"), 1);
  CHECK(removed.ok());
}

// A device runs task after task for years: its work folder must not grow with each one.
TEST_CASE("a device keeps its newest personalized models and recently used general models",
          "[device][unit]") {
  torch::manual_seed(4);
  auto model = build_model(image_spec());
  REQUIRE(model.ok());
  TempDir dir("dev");
  const std::string kept_dir = dir.file("personalized");
  auto age = [](const std::string& path, int seconds_ago) {
    fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago));
  };
  // Task ids need not grow (a device may serve two coordinators): "newest" is when written.
  std::vector<std::string> models;
  for (uint64_t task : {30, 10, 20, 5}) {
    auto kept = agent::keep_model(**model, kept_dir, std::string(64, 'a'), "device=x", task);
    REQUIRE(kept.ok());
    models.push_back(kept->path);
    const std::string manifest = fs::path(kept->path).replace_extension(".json").string();
    age(manifest, 100 - static_cast<int>(models.size()));  // written in this order
  }
  std::ofstream(kept_dir + "/notes.json") << "{\"mine\": true}";  // not a manifest: left
  std::ofstream(kept_dir + "/evil.json") << "{\"model\": \"../../outside.fpm\"}";
  std::ofstream(dir.file("outside.fpm")) << "not to be touched";
  auto removed = agent::remove_older_kept_models(kept_dir, 2);
  REQUIRE(removed.ok());
  CHECK(*removed == 2);
  CHECK_FALSE(fs::exists(models[0]));  // task 30, the oldest written
  CHECK_FALSE(fs::exists(fs::path(models[0]).replace_extension(".json")));
  CHECK_FALSE(fs::exists(models[1]));
  CHECK(fs::exists(models[2]));
  CHECK(fs::exists(models[3]));
  CHECK(fs::exists(kept_dir + "/notes.json"));
  CHECK(fs::exists(kept_dir + "/evil.json"));
  CHECK(fs::exists(dir.file("outside.fpm")));
  auto latest = agent::latest_kept_model(kept_dir);
  REQUIRE(latest.ok());
  CHECK(latest->task_id == 5);
  // The one latest.json names stays even when older by its time; 0 keeps all.
  age(models[3], 1000);
  age(fs::path(models[3]).replace_extension(".json").string(), 1000);
  REQUIRE(agent::remove_older_kept_models(kept_dir, 1).ok());
  CHECK(fs::exists(models[3]));
  CHECK(agent::latest_kept_model(kept_dir).ok());
  CHECK(*agent::remove_older_kept_models(kept_dir, 0) == 0);

  // The general model cache: the model in use and the most recently used others.
  const std::string cache = dir.file("models");
  fs::create_directories(cache);
  auto sha = [](char c) { return std::string(64, c); };
  for (char c : {'a', 'b', 'c', 'd'}) std::ofstream(cache + "/" + sha(c) + ".fpm") << c;
  std::ofstream(cache + "/" + sha('e') + ".part") << "half";  // a download never finished
  std::ofstream(cache + "/readme.txt") << "mine";
  age(cache + "/" + sha('a') + ".fpm", 50);  // in use, though the oldest
  age(cache + "/" + sha('b') + ".fpm", 40);
  age(cache + "/" + sha('c') + ".fpm", 10);
  age(cache + "/" + sha('d') + ".fpm", 30);
  age(cache + "/" + sha('e') + ".part", 20);
  auto trimmed = agent::trim_model_cache(cache, sha('a'), 3);
  REQUIRE(trimmed.ok());
  CHECK(*trimmed == 2);
  CHECK(fs::exists(cache + "/" + sha('a') + ".fpm"));
  CHECK(fs::exists(cache + "/" + sha('c') + ".fpm"));
  CHECK(fs::exists(cache + "/" + sha('e') + ".part"));
  CHECK_FALSE(fs::exists(cache + "/" + sha('b') + ".fpm"));
  CHECK_FALSE(fs::exists(cache + "/" + sha('d') + ".fpm"));
  CHECK(fs::exists(cache + "/readme.txt"));
  CHECK(*agent::trim_model_cache(cache, sha('a'), 0) == 0);
  CHECK(*agent::trim_model_cache(cache, sha('z'), 1) == 2);  // not cached yet: keeps 1 other
  CHECK(fs::exists(cache + "/" + sha('c') + ".fpm"));
  CHECK_FALSE(fs::exists(cache + "/" + sha('e') + ".part"));
}

// A board without a battery-backed clock boots a day behind, and NTP corrects it later: the
// models kept meanwhile have file times a day older than the ones before, and --kept-models
// removed the newest and kept the stale ones (a clock audit, 7 Dec).
TEST_CASE("a device keeps its newest personalized models after its clock stepped back",
          "[device][unit]") {
  torch::manual_seed(4);
  auto model = build_model(image_spec());
  REQUIRE(model.ok());
  TempDir dir("clock");
  const std::string kept_dir = dir.file("personalized");
  std::vector<std::string> models;
  auto keep = [&](uint64_t task, std::chrono::hours clock_error) {
    auto kept = agent::keep_model(**model, kept_dir, std::string(64, 'a'), "device=x", task);
    REQUIRE(kept.ok());
    models.push_back(kept->path);
    for (const char* ext : {".fpm", ".json"})
      fs::last_write_time(fs::path(kept->path).replace_extension(ext),
                          fs::file_time_type::clock::now() + clock_error);
  };
  // A manifest of before the "kept" numbers: older than every numbered one.
  REQUIRE(agent::keep_model(**model, kept_dir, std::string(64, 'a'), "device=x", 1).ok());
  const std::string unnumbered = kept_dir + "/task1-device_x.json";
  auto text = nlohmann::json::parse(fp::testing::read_file(unnumbered));
  REQUIRE(text.contains("kept"));
  text.erase("kept");
  std::ofstream(unnumbered, std::ios::trunc) << text.dump();
  fs::last_write_time(unnumbered, fs::file_time_type::clock::now() + std::chrono::hours(48));
  keep(2, std::chrono::hours(24));  // the clock right, a day ahead of the one below
  keep(3, std::chrono::hours(24));
  keep(4, std::chrono::hours(0));  // after the reboot, a day behind
  keep(5, std::chrono::hours(0));
  auto removed = agent::remove_older_kept_models(kept_dir, 2);
  REQUIRE(removed.ok());
  CHECK(*removed == 3);
  CHECK_FALSE(fs::exists(kept_dir + "/task1-device_x.fpm"));
  CHECK_FALSE(fs::exists(models[0]));
  CHECK_FALSE(fs::exists(models[1]));
  CHECK(fs::exists(models[2]));  // task 4, kept before task 5 and after 3
  CHECK(fs::exists(models[3]));
  CHECK(agent::latest_kept_model(kept_dir)->task_id == 5);
  // The numbers go on past what the folder holds.
  keep(6, std::chrono::hours(-24));
  REQUIRE(agent::remove_older_kept_models(kept_dir, 1).ok());
  CHECK_FALSE(fs::exists(models[2]));
  CHECK_FALSE(fs::exists(models[3]));
  CHECK(fs::exists(models[4]));
}

TEST_CASE("a kept model's name taken by an earlier one is not replaced", "[device][unit]") {
  // Task ids start again at 1 in another coordinator database: the model kept for an earlier
  // "task 7" was replaced without a word.
  torch::manual_seed(4);
  auto model = build_model(image_spec());
  REQUIRE(model.ok());
  TempDir dir("dev");
  const std::string kept_dir = dir.file("personalized");
  auto first = agent::keep_model(**model, kept_dir, std::string(64, 'a'), "device=x", 7);
  REQUIRE(first.ok());
  const std::string other_general(64, 'b');
  auto again = agent::keep_model(**model, kept_dir, other_general, "device=x", 7);
  REQUIRE(again.ok());
  CHECK(fs::path(first->path).filename() == "task7-device_x.fpm");
  CHECK(fs::path(again->path).filename() == "task7-device_x-2.fpm");
  CHECK(sha256_file_hex(first->path).value() == first->sha256);  // unchanged
  CHECK(fs::exists(kept_dir + "/task7-device_x.json"));
  CHECK(agent::latest_kept_model(kept_dir)->general_sha256 == other_general);
  CHECK(agent::keep_model(**model, kept_dir, other_general, "device=x", 7)->path ==
        kept_dir + "/task7-device_x-3.fpm");
  // A model's scratch file an agent killed while writing it left (a model's size each): the
  // next model kept sweeps it; a running writer's stays.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string gone =
      scratch_file_prefix(kept_dir + "/task8-device_x.fpm") + std::to_string(child) + ".0";
  const std::string alive =
      scratch_file_prefix(kept_dir + "/task9-device_x.fpm") + std::to_string(::getppid()) + ".0";
  std::ofstream(gone) << std::string(4096, 'm');
  std::ofstream(alive) << "m";
  REQUIRE(fs::exists(gone));
  REQUIRE(agent::keep_model(**model, kept_dir, other_general, "device=x", 10).ok());
  CHECK_FALSE(fs::exists(gone));
  CHECK(fs::exists(alive));
}

TEST_CASE("a kept model is put in place with its manifests or not at all", "[device][unit]") {
  // A manifest that could not be written left its model without one: never counted among
  // the kept models, so never removed either, a full disk's model at a time.
  torch::manual_seed(4);
  auto model = build_model(image_spec());
  REQUIRE(model.ok());
  TempDir dir("dev");
  const std::string kept_dir = dir.file("personalized");
  auto files_there = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(kept_dir))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  SECTION("latest.json cannot be written") {
    fs::create_directories(kept_dir + "/latest.json");  // in its place, a folder
    auto kept = agent::keep_model(**model, kept_dir, std::string(64, 'a'), "x", 7);
    REQUIRE_FALSE(kept.ok());
    INFO(kept.status().to_string());
    CHECK(kept.status().message().find("latest.json") != std::string::npos);
    CHECK(files_there() == std::vector<std::string>{"latest.json"});
  }
  SECTION("the disk fills while the model is written") {
    auto kept = testing::with_file_size_limit(
        1000, [&] { return agent::keep_model(**model, kept_dir, std::string(64, 'a'), "x", 7); });
    REQUIRE_FALSE(kept.ok());
    CHECK(kept.status().code() == Status::Code::kIOError);
    CHECK(files_there().empty());
    auto again = agent::keep_model(**model, kept_dir, std::string(64, 'a'), "x", 7);
    REQUIRE(again.ok());  // with room: all three
    CHECK(files_there() == std::vector<std::string>{"latest.json", "task7-x.fpm", "task7-x.json"});
    CHECK(agent::latest_kept_model(kept_dir)->sha256 == again->sha256);
  }
}

TEST_CASE("an outbox on disk survives a restart until acknowledged", "[device][unit]") {
  TempDir dir("dev");
  auto now = agent::Outbox::Clock::now();
  // Real frames: a reloaded message is checked before it is sent again.
  const std::string f1 = proto::encode(proto::TaskStatus{"k1", 7, true, 3, ""});
  const std::string f2 = proto::encode(proto::TaskStatus{"k2", 8, true, 3, ""});
  // Task 10: a newline byte in the frame (only the file's first line is its header).
  const std::string f3 = proto::encode(proto::TaskStatus{"k3", 10, false, 0, "out of memory"});
  REQUIRE(f3.find('\n') != std::string::npos);
  {
    agent::Outbox box(dir.file("outbox"));
    box.add("k1", f1, now);
    box.add("k2", f2, now);
    box.add("k3", f3, now);
    CHECK(box.ack("k2"));
  }
  // What an agent stopped while writing a message leaves: its scratch file, half written.
  // (Before 09d71c9 the scratch file was "<message>.tmp", one a message.)
  const std::string scratch = dir.file("outbox/0123abcd.msg.tmp.4242.7");
  const std::string older = dir.file("outbox/4567cdef.msg.tmp");
  std::ofstream(scratch) << "3 k4\n" << f1.substr(0, 4);
  std::ofstream(older) << "4 k5\n" << f1.substr(0, 4);
  agent::Outbox again = reloaded(dir.file("outbox"), now, 2);
  CHECK_FALSE(fs::exists(scratch));  // not loaded, and not left to pile up
  CHECK_FALSE(fs::exists(older));
  CHECK(again.contains("k1"));
  CHECK(again.contains("k3"));
  CHECK_FALSE(again.contains("k2"));
  auto frames = again.due(now, std::chrono::milliseconds(0), true);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0] == f1);  // in the order first added
  CHECK(frames[1] == f3);
  CHECK(again.ack("k1"));
  CHECK(again.ack("k3"));
  reloaded(dir.file("outbox"), now, 0);
}

TEST_CASE("an outbox keeps the database each message was made for, across a restart",
          "[device][unit]") {
  TempDir dir("dev");
  auto now = agent::Outbox::Clock::now();
  const std::string f1 = proto::encode(proto::TaskStatus{"k1", 1, true, 3, ""});
  const std::string f2 = proto::encode(proto::TaskStatus{"k2", 1, true, 3, ""});
  const std::string f3 = proto::encode(proto::TaskStatus{"k3", 2, true, 3, ""});
  {
    agent::Outbox box(dir.file("outbox"));
    box.add("k1", f1, now, "db-old");
    box.add("k3", f3, now, "db-new");
  }
  // A message written before the databases had ids: "<order> <key>", made for none.
  std::ofstream(dir.file("outbox/00aa.msg"), std::ios::binary) << "7 k2\n" << f2;
  agent::Outbox again = reloaded(dir.file("outbox"), now, 3);
  CHECK(again.drop_made_for_others("db-new") == 1);
  CHECK_FALSE(again.contains("k1"));
  CHECK(again.contains("k2"));  // kept: nothing says whose it was
  CHECK(again.contains("k3"));
  CHECK(again.drop_made_for_others("db-new") == 0);
  agent::Outbox third = reloaded(dir.file("outbox"), now, 2);  // the file went too
  CHECK(third.drop_made_for_others("db-newer") == 1);
  CHECK(third.contains("k2"));
}

TEST_CASE("a damaged outbox message is kept aside, not resent; a stranger's file is left alone",
          "[device][unit]") {
  TempDir dir("dev");
  auto now = agent::Outbox::Clock::now();
  const std::string good = proto::encode(proto::TaskStatus{"good", 7, true, 3, ""});
  std::string bad = proto::encode(proto::TaskStatus{"bad", 8, true, 3, ""});
  {
    agent::Outbox box(dir.file("outbox"));
    box.add("good", good, now);
    box.add("bad", bad, now);
  }
  // The second message's file damaged on disk (its frame cut short); a file not written by
  // the outbox beside them.
  for (const auto& e : fs::directory_iterator(dir.file("outbox"))) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find(" bad ") == std::string::npos) continue;
    in.close();
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << text.substr(0, text.size() - 5);
  }
  std::ofstream(dir.file("outbox/notes.msg")) << "my own notes";

  agent::Outbox again = reloaded(dir.file("outbox"), now, 1);
  CHECK(again.contains("good"));
  CHECK_FALSE(again.contains("bad"));
  size_t kept_aside = 0;
  for (const auto& e : fs::directory_iterator(dir.file("outbox")))
    kept_aside += e.path().extension() == ".bad";
  CHECK(kept_aside == 1);                           // nothing deleted
  CHECK(fs::exists(dir.file("outbox/notes.msg")));  // not ours: untouched
  CHECK(again.due(now, std::chrono::milliseconds(0), true) == std::vector<std::string>{good});
}

TEST_CASE("an outbox message changed on disk, invalid, or under another key is not resent",
          "[device][unit]") {
  // One flipped byte in a report's accuracy was resent and stored as another accuracy; a
  // frame the coordinator refuses was resent at every resend, for ever; one whose key is not
  // its file's was never acknowledged.
  TempDir dir("dev");
  auto now = agent::Outbox::Clock::now();
  const std::string flipped = proto::encode(proto::sample_report("flipped", 7, "fine_prune"));
  auto invalid_report = proto::sample_report("invalid", 7, "fine_prune");
  invalid_report.sparsity = 2.0;
  const std::string kept = proto::encode(proto::sample_report("kept", 7, "fine_prune"));
  {
    agent::Outbox box(dir.file("outbox"));
    box.add("flipped", flipped, now);
    box.add("invalid", proto::encode(invalid_report), now);
    box.add("other-key", kept, now);  // the frame's own key is "kept"
    box.add("kept", kept, now);
  }
  for (const auto& e : fs::directory_iterator(dir.file("outbox"))) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find(" flipped ") == std::string::npos) continue;
    in.close();
    // The accuracy after (0.93) is the frame's only such double: flip a bit of its mantissa.
    const double after = 0.93;
    const std::string bytes(reinterpret_cast<const char*>(&after), sizeof after);
    const size_t at = text.find(bytes);
    REQUIRE(at != std::string::npos);
    text[at] = static_cast<char>(text[at] ^ 0x10);
    REQUIRE(proto::decode(text.substr(text.find('\n') + 1), proto::kMaxAgentFrameBytes).ok());
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << text;
  }
  agent::Outbox again = reloaded(dir.file("outbox"), now, 1);
  CHECK(again.contains("kept"));
  size_t kept_aside = 0;
  for (const auto& e : fs::directory_iterator(dir.file("outbox")))
    kept_aside += e.path().extension() == ".bad";
  CHECK(kept_aside == 3);
}

TEST_CASE("durations", "[device][unit]") {
  using std::chrono::milliseconds;
  CHECK(*config::parse_duration("90s") == milliseconds(90000));
  CHECK(*config::parse_duration("15m") == milliseconds(900000));
  CHECK(*config::parse_duration("2h") == milliseconds(7200000));
  CHECK(*config::parse_duration("250ms") == milliseconds(250));
  CHECK(*config::parse_duration("1.5") == milliseconds(1500));
  CHECK_FALSE(config::parse_duration("soon").ok());
  CHECK_FALSE(config::parse_duration("-3s").ok());
  CHECK_FALSE(config::parse_duration("").ok());
}

TEST_CASE("options from a TOML file: the command line wins, unknown keys are refused",
          "[device][unit]") {
  TempDir dir("dev");
  auto parse = [&](const std::string& toml, std::vector<std::string> cli, std::string& data,
                   int64_t& threads, std::vector<std::string>& individuals, bool& plain) {
    std::ofstream(dir.file("a.toml")) << toml;
    CLI::App app;
    std::string config;
    app.add_option("--config", config);
    app.add_option("--data", data);
    app.add_option("--threads", threads);
    app.add_option("--individual", individuals);
    app.add_flag("--plain", plain);
    cli.insert(cli.begin(), "fp-agent");
    cli.push_back("--config");
    cli.push_back(dir.file("a.toml"));
    std::vector<char*> argv;
    for (auto& a : cli) argv.push_back(a.data());
    return config::parse_with_config(app, static_cast<int>(argv.size()), argv.data(), "--config");
  };
  std::string data;
  int64_t threads = 1;
  std::vector<std::string> individuals;
  bool plain = false;
  CHECK(parse("data = \"/files\"\nthreads = 3\nindividual = [\"a\", \"b\"]\nplain = true\n", {},
              data, threads, individuals, plain) == -1);
  CHECK(data == "/files");
  CHECK(threads == 3);
  CHECK((individuals == std::vector<std::string>{"a", "b"}));
  CHECK(plain);
  data.clear();
  CHECK(parse("data = \"/files\"\nthreads = 3\n", {"--threads", "5", "--data", "/cli"}, data,
              threads, individuals, plain) == -1);
  CHECK(data == "/cli");
  CHECK(threads == 5);

  // Unknown keys and wrong types name the file, the line and the key.
  const std::string path = dir.file("a.toml");
  CHECK(parse("data = \"/x\"\n\nthreds = 2\n", {}, data, threads, individuals, plain) == 2);
  CLI::App some;
  std::string d;
  some.add_option("--data", d);
  auto text = config::toml_arguments(some, path, {});
  REQUIRE_FALSE(text.ok());
  CHECK(text.status().message().find(path + ":3") != std::string::npos);
  CHECK(text.status().message().find("threds") != std::string::npos);
  std::ofstream(path) << "threads = \"many\"\n";
  CLI::App typed;
  int64_t t = 0;
  typed.add_option("--threads", t);
  auto wrong = config::toml_arguments(typed, path, {});
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message().find(path + ":1") != std::string::npos);
  CHECK(wrong.status().message().find("threads must be an integer") != std::string::npos);

  // An option of the command line alone (configurable(false): fp-agent's hidden
  // --protocol-version, for compatibility tests) is an unknown key in a file: a device's config
  // naming it was taken, and the device announced a version the coordinator refuses.
  std::ofstream(path) << "protocol_version = 1\n";
  CLI::App hidden;
  uint32_t version = 0;
  hidden.add_option("--protocol-version", version)->configurable(false);
  auto refused = config::toml_arguments(hidden, path, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find(path + ":1: unknown key 'protocol_version'") !=
        std::string::npos);
}

TEST_CASE("range-checked options refuse a value out of range, from the command line or a file",
          "[device][unit]") {
  TempDir dir("dev");
  // Returns parse_with_config's code; `resend_ms` and `share` as the options were set.
  auto parse = [&](const std::string& toml, std::vector<std::string> cli, int64_t& resend_ms,
                   double& share) {
    CLI::App app;
    std::string config;
    app.add_option("--config", config);
    app.add_option("--resend-ms", resend_ms)->check(config::at_least(1));
    app.add_option("--eval-fraction", share)->check(config::open_unit_interval());
    cli.insert(cli.begin(), "fp-agent");
    if (!toml.empty()) {
      std::ofstream(dir.file("a.toml")) << toml;
      cli.push_back("--config");
      cli.push_back(dir.file("a.toml"));
    }
    std::vector<char*> argv;
    for (auto& a : cli) argv.push_back(a.data());
    return config::parse_with_config(app, static_cast<int>(argv.size()), argv.data(), "--config");
  };
  int64_t resend = 2000;
  double share = 0.5;
  CHECK(parse("", {"--resend-ms", "250", "--eval-fraction", "0.3"}, resend, share) == -1);
  CHECK(resend == 250);
  CHECK(share == 0.3);
  const int refused = static_cast<int>(CLI::ExitCodes::ValidationError);
  CHECK(parse("", {"--resend-ms", "0"}, resend, share) == refused);
  CHECK(parse("", {"--eval-fraction", "1"}, resend, share) == refused);
  CHECK(parse("", {"--eval-fraction", "half"}, resend, share) == refused);
  // A file's values pass the same checks (its keys are typed by the option, before the
  // validator's description: "INT:>= 1" is an integer).
  CHECK(parse("resend_ms = 40\neval_fraction = 0.25\n", {}, resend, share) == -1);
  CHECK(resend == 40);
  CHECK(share == 0.25);
  CHECK(parse("resend_ms = 0\n", {}, resend, share) == refused);
  CHECK(parse("eval_fraction = 1.5\n", {}, resend, share) == refused);
  CHECK(parse("resend_ms = \"soon\"\n", {}, resend, share) == 2);  // the file's type error

  // The validators' own answers.
  std::string v = "0.5";
  CHECK(config::at_least(1)(v) == "must be at least 1, got 0.5");
  v = "3";
  CHECK(config::at_least(1)(v).empty());
  v = "1";
  CHECK(config::share_below_one()(v) == "must be in [0, 1), got 1");
  v = "0";
  CHECK(config::share_below_one()(v).empty());
  CHECK_FALSE(config::open_unit_interval()(v).empty());
  CHECK(config::positive()(v) == "must be positive, got 0");
}

TEST_CASE("an agent gives up on an unreachable coordinator and keeps its outbox",
          "[device][unit]") {
  TempDir dir("dev");
  {
    agent::Outbox left(dir.file("outbox"));  // what an earlier run could not deliver
    left.add("phone:1:0:fine_prune",
             proto::encode(proto::sample_report("phone:1:0:fine_prune", 1, "fine_prune")),
             agent::Outbox::Clock::now());
  }
  agent::AgentConfig config;
  config.agent_id = "phone";
  config.coordinator = "tcp://127.0.0.1:1";  // nobody listens there
  config.security.plain = true;
  config.hello_timeout = std::chrono::milliseconds(300);
  config.reconnect_min = std::chrono::milliseconds(50);
  config.reconnect_max = std::chrono::milliseconds(100);
  config.outbox_dir = dir.file("outbox");
  config.give_up_after = std::chrono::milliseconds(1500);
  testing::FakeRunner runner;
  zmq::context_t context(1);
  agent::Agent a(config, context, runner);
  const auto start = std::chrono::steady_clock::now();
  Status s = a.run();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(s.code() == Status::Code::kUnavailable);
  CHECK(s.message().find("unreachable") != std::string::npos);
  CHECK(s.message().find("1 unacknowledged message(s) stay in " + dir.file("outbox") +
                         " and are resent on the next start") != std::string::npos);
  CHECK(waited >= 1.5);
  CHECK(waited < 10);
  agent::Outbox still(dir.file("outbox"));
  CHECK(*still.load(agent::Outbox::Clock::now()) == 1);  // resent on the next start
}
