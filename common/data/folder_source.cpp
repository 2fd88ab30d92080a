#include "data/folder_source.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>

#include "data/file_decoder.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fp {
namespace {

namespace fs = std::filesystem;

// The last IDX file read (its raw bytes; images are decoded one at a time): items are
// decoded file by file, so one is enough. Kept across a walk's batches: reading the whole
// file again for each batch made a pass over a folder of one IDX file quadratic (10,000
// images in batches of 64: 19 s, not 1.5 s).
struct IdxCache {
  std::string path;
  Result<IdxArray> file = Status::not_found("");
};

torch::Tensor decode_cached(const std::vector<FolderItem>& items, const ModelSpec& spec,
                            SkipLog& skipped, std::vector<size_t>* kept, IdxCache& idx);

}  // namespace

std::string FolderItem::name(const std::string& dir) const {
  // As listed, not resolved: fs::relative followed symlinks, so a linked file was named (and
  // matched to the labels file) by its target's path.
  std::string rel = fs::path(path).lexically_relative(dir).string();
  if (rel.empty()) rel = path;
  return index >= 0 ? rel + "#" + std::to_string(index) : rel;
}

void SkipLog::add(const std::string& path, const std::string& message) {
  ++count;
  if (first.size() < kKept) first.push_back(message);
  std::string why = message;
  if (!path.empty()) {
    if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
    for (size_t at; (at = why.find(path)) != std::string::npos;)
      why.replace(at, path.size(), "<file>");
  }
  if (reasons.count(why) || reasons.size() < kReasons) {
    ++reasons[why];
  } else {
    ++reasons["other reasons"];
  }
}

void SkipLog::add_recording(double seconds, double window_seconds, double frame_seconds) {
  ++decoded_recordings;
  window_s = window_seconds;
  frame_s = frame_seconds;
  if (seconds < frame_seconds) {
    shortest_recording_s = short_recordings ? std::min(shortest_recording_s, seconds) : seconds;
    ++short_recordings;
  }
  if (seconds <= 2 * window_seconds) return;
  ++long_recordings;
  longest_recording_s = std::max(longest_recording_s, seconds);
}

std::string SkipLog::short_recordings_summary() const {
  if (short_recordings == 0) return "";
  return fmt::format(
      "{} of the {} recording(s) read are shorter than one analysis frame of {:.0f} ms (the "
      "shortest {:.4f} s): not a whole frame of sound each, they tell Fine-Pruning next to "
      "nothing of the individual",
      short_recordings, decoded_recordings, 1000 * frame_s, shortest_recording_s);
}

std::vector<std::string> SkipLog::recording_warnings() const {
  std::vector<std::string> out;
  for (std::string s : {long_recordings_summary(), short_recordings_summary()})
    if (!s.empty()) out.push_back(std::move(s));
  return out;
}

std::string SkipLog::long_recordings_summary() const {
  if (long_recordings == 0) return "";
  return fmt::format(
      "{} of the {} recording(s) read are more than twice as long as the model's window of "
      "{:.2f} s (the longest {:.2f} s): the model hears only the middle {:.2f} s of each; cut "
      "long recordings into clips about that long to use all of them",
      long_recordings, decoded_recordings, window_s, longest_recording_s, window_s);
}

std::string SkipLog::summary() const {
  std::string s = std::to_string(count) + " file(s) skipped";
  // Escaped: a name with a newline would split the log line.
  for (size_t i = 0; i < first.size(); ++i) s += (i ? "; " : ", e.g. ") + escape_text(first[i]);
  return s;
}

std::string SkipLog::anonymous_summary() const {
  // The most frequent reasons first.
  std::vector<std::pair<int64_t, std::string>> by_count;
  for (const auto& [why, n] : reasons) by_count.emplace_back(-n, why);
  std::sort(by_count.begin(), by_count.end());
  std::string s = std::to_string(count) + " file(s) skipped";
  for (size_t i = 0; i < by_count.size() && i < kKept; ++i) {
    s += (i ? "; " : ": ") + std::to_string(-by_count[i].first) + " " + by_count[i].second;
  }
  if (by_count.size() > kKept)
    s += "; " + std::to_string(by_count.size() - kKept) + " more reason(s)";
  return s;
}

Result<FolderListing> list_folder(const std::string& dir) {
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) {
    return Status::not_found("data folder '" + dir + "' does not exist or is not a folder");
  }
  // A folder the program's user may not read was listed as empty: "no usable file (0 of
  // another type)" for a folder of photos, when the fix is its permissions.
  if (::access(dir.c_str(), R_OK | X_OK) != 0)
    return Status::io_error("data folder '" + dir + "' cannot be read (" + std::strerror(errno) +
                            ")");
  FolderListing out;
  out.dir = dir;
  std::vector<std::string> files;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    // Hidden files and folders are not the owner's data: a phone's .thumbnails (copies of
    // its photos) and .trashed-* (photos its owner deleted), macOS's ._* and .DS_Store.
    if (it->path().filename().string().rfind('.', 0) == 0) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec) && ::access(it->path().c_str(), R_OK | X_OK) != 0) {
      out.skipped.add(it->path().string(), it->path().string() +
                                               ": a folder that cannot be read (" +
                                               std::strerror(errno) + "): its files are not read");
      it.disable_recursion_pending();
      continue;
    }
    const std::string path = it->path().string();
    if (it->is_regular_file(ec)) {
      files.push_back(path);
    } else if (it->is_directory(ec)) {
      // Followed, a link could lead out of the folder or round in a loop.
      if (it->is_symlink(ec)) out.skipped.add(path, path + ": a link to a folder: not followed");
    } else {  // counted, not opened: a FIFO would wait for a writer, a device never end
      out.skipped.add(path, path +
                                ": not a regular file (a broken link, a FIFO, a socket or "
                                "a device): not read");
    }
  }
  if (ec) return Status::io_error(dir + ": cannot list (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  Sha256 signature;
  for (const auto& f : files) {
    // One stat a file for both (a file gone since it was listed signs as size -1).
    struct stat st {};
    const bool there = ::stat(f.c_str(), &st) == 0;
    const int64_t stamp[3] = {there ? static_cast<int64_t>(st.st_size) : -1,
                              there ? static_cast<int64_t>(st.st_mtim.tv_sec) : 0,
                              there ? static_cast<int64_t>(st.st_mtim.tv_nsec) : 0};
    signature.update(f.data(), f.size() + 1);  // with its terminating NUL: names stay apart
    signature.update(stamp, sizeof stamp);
  }
  out.signature = to_hex(signature.finish());
  for (auto& f : files) {
    switch (file_kind(f)) {
      case FileKind::kAudio:
      case FileKind::kImage:
        out.items.push_back({std::move(f), -1});
        break;
      case FileKind::kIdx: {
        auto n = idx_image_count(f);
        if (!n.ok()) {
          out.skipped.add(f, n.status().message());
          break;
        }
        for (int64_t i = 0; i < *n; ++i) out.items.push_back({f, i});
        break;
      }
      case FileKind::kOther:
        out.skipped.add(f, f + ": not a recording (" + kRecordingFormats + "), picture (" +
                               kPictureFormats + ") or IDX file");
        break;
    }
  }
  return out;
}

torch::Tensor decode_items(const std::vector<FolderItem>& items, const ModelSpec& spec,
                           SkipLog& skipped, std::vector<size_t>* kept) {
  IdxCache idx;
  return decode_cached(items, spec, skipped, kept, idx);
}

namespace {

torch::Tensor decode_cached(const std::vector<FolderItem>& items, const ModelSpec& spec,
                            SkipLog& skipped, std::vector<size_t>* kept, IdxCache& idx) {
  torch::NoGradGuard no_grad;
  if (kept) kept->clear();
  const std::vector<int64_t> shape = {spec.in_channels, spec.height, spec.width};
  // Decoded file by file, returned in the items' order: a shuffled sample alternating
  // between two IDX files read each one again at every switch (400 images of two copies of
  // Fashion-MNIST's test file: 48 s, 3.5 GB; a damaged one was "47 file(s) skipped").
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return items[a].path < items[b].path; });
  std::vector<std::pair<size_t, torch::Tensor>> decoded;
  for (size_t i : order) {
    const FolderItem& item = items[i];
    Result<torch::Tensor> input = Status::internal("");
    if (item.index >= 0) {
      if (idx.path != item.path) {
        idx = {item.path, read_device_idx(item.path, spec)};
        // A damaged IDX file is one file skipped, not one per image its header lists (a
        // truncated file of 10,000 images was "10000 file(s) skipped").
        if (!idx.file.ok()) skipped.add(item.path, idx.file.status().message());
      }
      if (!idx.file.ok()) continue;
      input = idx_image_input(*idx.file, item.index, item.path, spec);
    } else if (file_kind(item.path) == FileKind::kAudio) {
      double seconds = 0;
      input = decode_audio_file(item.path, spec, &seconds);
      if (input.ok()) {
        const LogMelConfig heard = log_mel_config_of(spec);
        skipped.add_recording(seconds, log_mel_window_seconds(heard),
                              static_cast<double>(heard.n_fft) / heard.sample_rate);
      }
    } else {
      input = decode_image_file(item.path, spec);
    }
    if (input.ok() && input->sizes().vec() != shape) {
      input = Status::invalid_argument(item.path + ": decodes to the wrong shape");
    }
    if (!input.ok()) {
      skipped.add(item.path, input.status().message());
      continue;
    }
    decoded.emplace_back(i, std::move(*input));
  }
  if (decoded.empty()) return torch::Tensor();
  std::sort(decoded.begin(), decoded.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<torch::Tensor> rows;
  rows.reserve(decoded.size());
  for (auto& [i, row] : decoded) {
    rows.push_back(std::move(row));
    if (kept) kept->push_back(i);
  }
  return torch::stack(rows);
}

}  // namespace

Status for_each_batch(const std::vector<FolderItem>& items, const ModelSpec& spec,
                      int64_t batch_size, SkipLog& skipped, const BatchFn& fn) {
  const size_t step = static_cast<size_t>(std::max<int64_t>(1, batch_size));
  std::vector<size_t> kept;
  IdxCache idx;
  for (size_t begin = 0; begin < items.size(); begin += step) {
    const size_t end = std::min(items.size(), begin + step);
    std::vector<FolderItem> batch(items.begin() + static_cast<std::ptrdiff_t>(begin),
                                  items.begin() + static_cast<std::ptrdiff_t>(end));
    torch::Tensor inputs = decode_cached(batch, spec, skipped, &kept, idx);
    if (!inputs.defined()) continue;
    std::vector<const FolderItem*> from;
    for (size_t k : kept) from.push_back(&items[begin + k]);
    FP_RETURN_IF_ERROR(fn(inputs, from));
  }
  return Status::ok_status();
}

}  // namespace fp
