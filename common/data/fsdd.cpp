#include "data/fsdd.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "data/wav_reader.h"

namespace fp {
namespace {

namespace fs = std::filesystem;

struct RecordingName {
  int digit = 0;
  std::string speaker;
};

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "{digit}_{speaker}_{index}.wav", e.g. "7_jackson_32.wav".
Result<RecordingName> parse_name(const fs::path& path) {
  const std::string stem = path.stem().string();
  const size_t first = stem.find('_');
  const size_t last = stem.rfind('_');
  const auto bad = [&](const std::string& why) {
    return Status::invalid_argument(path.string() + ": not an FSDD recording name " +
                                    "{digit}_{speaker}_{index}.wav (" + why + ")");
  };
  if (first == std::string::npos || first == last) return bad("expected two '_'");
  const std::string digit = stem.substr(0, first);
  const std::string speaker = stem.substr(first + 1, last - first - 1);
  const std::string index = stem.substr(last + 1);
  if (digit.size() != 1 || !all_digits(digit)) return bad("digit '" + digit + "'");
  if (speaker.empty()) return bad("empty speaker");
  if (!all_digits(index)) return bad("index '" + index + "'");
  return RecordingName{digit[0] - '0', speaker};
}

}  // namespace

std::string default_fsdd_dir() {
  const char* env = std::getenv("FP_FSDD_DIR");
  if (env != nullptr && *env != '\0') return env;
  const std::string relative = "../shared/data/fsdd";
  std::error_code ec;
  return fs::is_directory(relative, ec) ? relative : std::string();
}

Result<Dataset> load_fsdd(const std::string& dir, const LogMelConfig& features) {
  FP_RETURN_IF_ERROR(validate_log_mel_config(features));
  const fs::path recordings = fs::path(dir) / "recordings";
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(recordings, ec)) {
    return Status::not_found("FSDD: no recordings directory at '" + recordings.string() + "'");
  }
  std::vector<fs::path> files;
  for (fs::directory_iterator it(recordings, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".wav" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return Status::io_error(recordings.string() + ": cannot list (" + ec.message() + ")");
  if (files.empty()) return Status::not_found(recordings.string() + ": no .wav recordings");
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });

  std::vector<RecordingName> names;
  std::map<std::string, int64_t> speaker_ids;  // sorted: ids follow alphabetical order
  for (const fs::path& f : files) {
    FP_ASSIGN_OR_RETURN(RecordingName name, parse_name(f));
    speaker_ids.emplace(name.speaker, 0);
    names.push_back(std::move(name));
  }
  Dataset out;
  for (auto& [speaker, id] : speaker_ids) {
    id = static_cast<int64_t>(out.group_names.size());
    out.group_names.push_back(speaker);
  }
  for (int d = 0; d <= 9; ++d) out.class_names.push_back(std::to_string(d));

  const int64_t n = static_cast<int64_t>(files.size());
  out.inputs = torch::empty({n, 1, features.n_mels, features.frames}, torch::kFloat32);
  out.labels = torch::empty({n}, torch::kInt64);
  out.groups = torch::empty({n}, torch::kInt64);
  auto labels = out.labels.accessor<int64_t, 1>();
  auto groups = out.groups.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const std::string path = files[i].string();
    FP_ASSIGN_OR_RETURN(Audio audio, read_wav(path));
    if (audio.sample_rate != features.sample_rate) {
      return Status::invalid_argument(path + ": sample rate " + std::to_string(audio.sample_rate) +
                                      " Hz, features expect " +
                                      std::to_string(features.sample_rate) + " Hz");
    }
    out.inputs[i].copy_(log_mel_spectrogram(audio.samples, features));
    labels[i] = names[i].digit;
    groups[i] = speaker_ids.at(names[i].speaker);
  }
  return out;
}

}  // namespace fp
