// A phone's recordings that libsndfile does not read, decoded with FFmpeg's libavformat
// and libavcodec: AAC in MP4 (an iPhone's Voice Memos and newer Android recorders, .m4a;
// raw ADTS .aac) and AMR, raw (.amr, .awb) or in 3GP (.3gp, .3g2: older Android recorders).
// Only those formats' demuxers, and no other file or URL than the one named, are used.
#pragma once

#include <string>

#include "data/wav_reader.h"
#include "util/status.h"

namespace fp {

// The file's first audio stream, mono (channels averaged, as read_wav does) at its own
// rate. A missing, damaged, non-audio or too long (kMaxAudioSamples) file is a Status
// naming the path.
Result<Audio> read_phone_audio(const std::string& path);

// Whether `path` is one read_phone_audio reads rather than read_wav (by its extension).
bool is_phone_audio_path(const std::string& path);

}  // namespace fp
