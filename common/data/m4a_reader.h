// Recordings in an MP4 container (AAC: a phone's voice memos, .m4a; raw ADTS .aac), which
// libsndfile does not read, decoded with FFmpeg's libavformat and libavcodec.
#pragma once

#include <string>

#include "data/wav_reader.h"
#include "util/status.h"

namespace fp {

// The file's first audio stream, mono (channels averaged, as read_wav does) at its own
// rate. A missing, damaged, non-audio or too long (kMaxAudioSamples) file is a Status
// naming the path.
Result<Audio> read_m4a(const std::string& path);

// Whether `path` is one read_m4a reads rather than read_wav (by its extension).
bool is_m4a_path(const std::string& path);

}  // namespace fp
