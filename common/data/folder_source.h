// A device's own files as a data source: the folder is listed recursively (paths
// only: 100,000 files are a few megabytes of names) and decoded a batch at a time,
// so memory holds one batch of inputs, never the folder.
//
// Files the model cannot use (unknown type, unreadable, wrong kind for the model)
// are skipped and counted; the first few are kept with their reasons for the log.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/model_spec.h"
#include "util/status.h"

namespace fp {

struct FolderItem {
  std::string path;    // as found under the folder (the folder's path + relative path)
  int64_t index = -1;  // the image's position inside an IDX file; -1 for one-sample files
  std::string name(const std::string& dir) const;  // path relative to `dir` (+ "#i" for IDX)
};

// What decoding left out: the files skipped and why, and the recordings most of which the
// model never hears. The reasons are also counted without the files' names, for what may
// leave the device (a failed task's reason names no private file).
struct SkipLog {
  static constexpr size_t kKept = 5;      // examples with names
  static constexpr size_t kReasons = 32;  // distinct reasons counted; later ones as "other"
  int64_t count = 0;
  std::vector<std::string> first;          // "<path>: <why>" of the first kKept
  std::map<std::string, int64_t> reasons;  // why (no path in it) -> files
  // `message` as the decoders word it, "<path>: <why>"; `path` is cut out of the counted
  // reason wherever it appears.
  void add(const std::string& path, const std::string& message);
  std::string summary() const;  // "3 file(s) skipped, e.g. a.txt: ...; b.wav: ..." (escaped)
  // "3 file(s) skipped: 2 not a readable image (outofdata); 1 not a recording, picture or IDX
  // file": no file or folder name.
  std::string anonymous_summary() const;

  // Recordings used although over twice as long as the model's window (`window_s`): only
  // their middle window feeds the model, more than half of each is never heard.
  int64_t decoded_recordings = 0;
  int64_t long_recordings = 0;
  double longest_recording_s = 0, window_s = 0;
  // Recordings used although shorter than one analysis frame (`frame_seconds`, the FFT's
  // n_fft samples: 32 ms for FSDD's models): not one whole frame of sound, a click at most.
  int64_t short_recordings = 0;
  double shortest_recording_s = 0, frame_s = 0;
  void add_recording(double seconds, double window_seconds, double frame_seconds);
  // "" when none was that long; else how many, the window, the longest and what to do.
  std::string long_recordings_summary() const;
  // "" when none was that short; else how many, the frame and the shortest.
  std::string short_recordings_summary() const;
  // The two above that are not empty: what a device's log warns of its recordings.
  std::vector<std::string> recording_warnings() const;
};

struct FolderListing {
  std::string dir;
  std::vector<FolderItem> items;  // sorted by path, IDX images in file order
  SkipLog skipped;                // files of no known type
  // SHA-256 of every listed file's path, size and modification time: another value means
  // files were added, removed or changed since an earlier listing.
  std::string signature;
};

// Every regular file under `dir`, recursively, but hidden ones (a name starting with '.',
// and everything in a hidden folder). A missing folder is an error; an empty one is not
// (the caller decides what no usable file means).
Result<FolderListing> list_folder(const std::string& dir);

// Decodes `items` into float32 [n, C, H, W] (n <= items.size(), undefined when n = 0);
// `kept` receives the positions in `items` of the decoded ones. Never fails: a bad
// file is skipped and logged in `skipped`.
torch::Tensor decode_items(const std::vector<FolderItem>& items, const ModelSpec& spec,
                           SkipLog& skipped, std::vector<size_t>* kept = nullptr);

// Streams `items` through the decoder `batch_size` at a time: fn(inputs, the items they
// came from). An error from fn stops the walk and is returned.
using BatchFn =
    std::function<Status(const torch::Tensor& inputs, const std::vector<const FolderItem*>& from)>;
Status for_each_batch(const std::vector<FolderItem>& items, const ModelSpec& spec,
                      int64_t batch_size, SkipLog& skipped, const BatchFn& fn);

}  // namespace fp
