#include "data/phone_audio_reader.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>
}

#include <memory>
#include <mutex>

#include "util/text.h"

namespace fp {
namespace {

// FFmpeg's demuxers for MP4/3GP (AAC or AMR inside), raw ADTS AAC and raw AMR.
constexpr const char* kDemuxers = "mov,mp4,m4a,3gp,3g2,mj2,aac,amr,amrnb,amrwb";

std::string av_error(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

struct FormatCloser {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct SwrCloser {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct PacketCloser {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameCloser {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};

// Converts decoded frames to planar float in the stream's own layout and rate, and
// averages the channels into `out`.
class Downmix {
 public:
  Status open(const AVCodecContext& c) {
    channels_ = c.ch_layout.nb_channels;
    if (channels_ < 1) return Status::invalid_argument("no audio channels");
    SwrContext* s = nullptr;
    // FFmpeg 5.1 declares the layouts non-const; it only reads them.
    auto* layout = const_cast<AVChannelLayout*>(&c.ch_layout);
    int rc = swr_alloc_set_opts2(&s, layout, AV_SAMPLE_FMT_FLTP, c.sample_rate, layout,
                                 c.sample_fmt, c.sample_rate, 0, nullptr);
    swr_.reset(s);
    if (rc >= 0) rc = swr_init(s);
    if (rc < 0) return Status::invalid_argument("cannot convert its samples: " + av_error(rc));
    return Status::ok_status();
  }
  // `frame` null: what the converter still holds.
  Status add(const AVFrame* frame, std::vector<float>& out) {
    const int in = frame ? frame->nb_samples : 0;
    const int room = swr_get_out_samples(swr_.get(), in);
    if (room <= 0) return Status::ok_status();
    if (static_cast<int64_t>(out.size() + room) * channels_ > kMaxAudioSamples) {
      return Status::invalid_argument("too long (more than " + std::to_string(kMaxAudioSamples) +
                                      " samples)");
    }
    planes_.resize(static_cast<size_t>(channels_));
    std::vector<uint8_t*> pointers;
    for (auto& p : planes_) {
      p.resize(static_cast<size_t>(room));
      pointers.push_back(reinterpret_cast<uint8_t*>(p.data()));
    }
    const int n =
        swr_convert(swr_.get(), pointers.data(), room,
                    frame ? const_cast<const uint8_t**>(frame->extended_data) : nullptr, in);
    if (n < 0) return Status::invalid_argument("cannot convert its samples: " + av_error(n));
    for (int i = 0; i < n; ++i) {
      float sum = 0;
      for (const auto& p : planes_) sum += p[static_cast<size_t>(i)];
      out.push_back(sum / static_cast<float>(channels_));
    }
    return Status::ok_status();
  }

 private:
  std::unique_ptr<SwrContext, SwrCloser> swr_;
  int channels_ = 0;
  std::vector<std::vector<float>> planes_;
};

// Sends `packet` (null: the end) and takes every frame the decoder has ready.
Status decode(AVCodecContext* codec, const AVPacket* packet, AVFrame* frame, Downmix& downmix,
              std::vector<float>& out) {
  int rc = avcodec_send_packet(codec, packet);
  if (rc < 0 && rc != AVERROR_EOF) return Status::invalid_argument("damaged: " + av_error(rc));
  while ((rc = avcodec_receive_frame(codec, frame)) >= 0) {
    Status added = downmix.add(frame, out);
    av_frame_unref(frame);
    FP_RETURN_IF_ERROR(added);
  }
  if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF)
    return Status::invalid_argument("damaged: " + av_error(rc));
  return Status::ok_status();
}

Result<Audio> decode_file(const std::string& path) {
  AVFormatContext* opened = nullptr;
  // "file:" first: a path is never taken for another protocol's URL ("http:...", "concat:").
  const std::string url = "file:" + path;
  // Only the phone formats' demuxers, and no protocol but this file: FFmpeg probes content,
  // not names, and a playlist (HLS) or concat list named .m4a made it read the files, or
  // the URLs, that it lists.
  AVDictionary* options = nullptr;
  av_dict_set(&options, "format_whitelist", kDemuxers, 0);
  av_dict_set(&options, "protocol_whitelist", "file", 0);
  int rc = avformat_open_input(&opened, url.c_str(), nullptr, &options);
  av_dict_free(&options);
  if (rc < 0) {
    return rc == AVERROR(ENOENT)
               ? Status::not_found("file does not exist")
               : Status::invalid_argument("not a readable recording: " + av_error(rc));
  }
  std::unique_ptr<AVFormatContext, FormatCloser> format(opened);
  rc = avformat_find_stream_info(format.get(), nullptr);
  if (rc < 0) return Status::invalid_argument("not a readable recording: " + av_error(rc));
  const AVCodec* decoder = nullptr;
  const int stream = av_find_best_stream(format.get(), AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0);
  if (stream < 0 || decoder == nullptr) return Status::invalid_argument("no audio stream");
  std::unique_ptr<AVCodecContext, CodecCloser> codec(avcodec_alloc_context3(decoder));
  if (!codec) return Status::internal("out of memory");
  rc = avcodec_parameters_to_context(codec.get(), format->streams[stream]->codecpar);
  if (rc >= 0) rc = avcodec_open2(codec.get(), decoder, nullptr);
  if (rc < 0) return Status::invalid_argument("cannot decode its audio: " + av_error(rc));
  if (codec->sample_rate <= 0) return Status::invalid_argument("no sample rate");
  Downmix downmix;
  FP_RETURN_IF_ERROR(downmix.open(*codec));

  Audio audio;
  audio.sample_rate = codec->sample_rate;
  std::unique_ptr<AVPacket, PacketCloser> packet(av_packet_alloc());
  std::unique_ptr<AVFrame, FrameCloser> frame(av_frame_alloc());
  if (!packet || !frame) return Status::internal("out of memory");
  while ((rc = av_read_frame(format.get(), packet.get())) >= 0) {
    Status decoded = packet->stream_index == stream
                         ? decode(codec.get(), packet.get(), frame.get(), downmix, audio.samples)
                         : Status::ok_status();
    av_packet_unref(packet.get());
    FP_RETURN_IF_ERROR(decoded);
  }
  if (rc != AVERROR_EOF) return Status::invalid_argument("damaged: " + av_error(rc));
  FP_RETURN_IF_ERROR(decode(codec.get(), nullptr, frame.get(), downmix, audio.samples));
  FP_RETURN_IF_ERROR(downmix.add(nullptr, audio.samples));
  return audio;
}

}  // namespace

bool is_phone_audio_path(const std::string& path) {
  const std::string p = ascii_lower(path);
  for (const char* extension : {".m4a", ".aac", ".3gp", ".3g2", ".amr", ".awb"}) {
    if (ends_with(p, extension)) return true;
  }
  return false;
}

Result<Audio> read_phone_audio(const std::string& path) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { av_log_set_level(AV_LOG_QUIET); });  // errors come as Status
  auto audio = decode_file(path);
  if (!audio.ok()) return audio.status().with_context(path + ": ");
  return audio;
}

}  // namespace fp
