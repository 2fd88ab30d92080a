// Whole files in and out, with errors that name the file: what configs, scenarios,
// reports, exports and private-data files are read and written with.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace fp {

// The file's bytes; NotFound "<what> <path> cannot be opened".
// A pipe is read to its end (a config given as <(...)), waiting for its writer as cat does.
Result<std::string> read_file(const std::string& path, const std::string& what = "file");
// The same for what only a file can be (a model artifact): anything else, a FIFO included,
// is InvalidArgument "<what> <path> is not a regular file ..." at once, never waited on.
Result<std::string> read_regular_file(const std::string& path, const std::string& what = "file");

// Creates or truncates `path` and writes `bytes`; IoError "writing <what> <path>: <reason>".
// A reader may see the file half written, and a failure leaves it so: for files nothing
// else reads meanwhile (scratch, a run's own outputs). Otherwise replace_file.
Status write_file(const std::string& path, std::string_view bytes,
                  const std::string& what = "file");

// Writes `bytes` beside `path` (a name of its own per call) and renames it over `path`: a
// reader sees the old file or the new one, whole, and a failure leaves the old one and no
// scratch file. `durable`: flushed to disk before the rename, so that after a crash too
// `path` holds one or the other (a model, a manifest); without it a crash may leave it empty
// (a cache that is checked when read). IoError "<what> <path>: <step> <scratch>: <reason>".
// Through a link to a file, that file is replaced. Anything else that is there (a device,
// a pipe, a folder) is InvalidArgument, left as it is: renamed over, /dev/null given as an
// output was replaced by a regular file (as root).
Status replace_file(const std::string& path, std::string_view bytes,
                    const std::string& what = "file", bool durable = true);

// replace_file in two steps, for files written together: stage_file writes the scratch file
// beside the target (what replace_file refuses, refused), commit_staged renames it over the
// target (removing the scratch file if that fails). The scratch file is named
// scratch_file_prefix(target) + "<pid>.<n>" (util/scratch_folder.h); staging removes those
// of the same target that
// a killed writer on this machine left (a model's size each, on a device's small disk).
// The machine's name is in it so that a writer on another machine sharing the folder (a
// cluster's network file system) is never taken for a gone process.
struct StagedFile {
  std::string scratch, target;  // target: the file a link names
  std::string named, what;      // for messages
};
// `mode`: the file's from its creation (a secret key's 0600), whatever the umask; 0: 0644
// under the umask.
Result<StagedFile> stage_file(const std::string& path, std::string_view bytes,
                              const std::string& what, bool durable, mode_t mode = 0);
Status commit_staged(const StagedFile& file);

// Files replaced together, all or none where the disk fills (a report written over an
// earlier one kept half of each): add() writes each to a scratch file beside its place
// (its folder made), commit() renames them all into place; what was not committed is removed
// with the set. A rename itself needs no room. `durable`: as replace_file's, each file
// flushed to disk before its rename (off by default: reports and exports, written again at will).
class StagedFiles {
 public:
  explicit StagedFiles(std::string what, bool durable = false)
      : what_(std::move(what)), durable_(durable) {}
  ~StagedFiles();
  StagedFiles(const StagedFiles&) = delete;
  StagedFiles& operator=(const StagedFiles&) = delete;

  Status add(const std::string& path, std::string_view bytes);
  Status commit();  // the first rename that failed, after trying every one
  const std::vector<std::string>& paths() const { return paths_; }  // as added

 private:
  std::string what_;
  bool durable_;
  std::vector<StagedFile> staged_;
  std::vector<std::string> paths_;
};

// Flushes the file or folder `path` to disk (a folder: the names in it, after a rename).
// IoError "<what> <path>: <reason>".
Status sync_to_disk(const std::string& path, const std::string& what = "file");

// Makes the folder `path` is to be written in, with its parents, when missing: an output a
// user names (`--out out/compact/model.fpm`) may be the first thing in a new folder.
// IoError "<what> <path>: cannot make folder <folder>: <reason>".
Status make_parent_folder(const std::string& path, const std::string& what = "file");

// Makes the folder `dir` a program writes several outputs into (a report), with its parents,
// when missing. InvalidArgument "<what> <dir> is a file, not a folder" when a file is there
// (a database named as the report folder said only "Not a directory"); IoError otherwise.
Status make_output_folder(const std::string& dir, const std::string& what);

// Whether this process could make `path` (a file or a folder, with the folders above it)
// without making anything: OK when it is there (what it is, the caller checks) or when the
// nearest folder above it that is there lets this process write in it. Otherwise
// InvalidArgument "<what> <path> cannot be made: <why>" (a check's answer, made nothing).
Status check_can_make(const std::string& path, const std::string& what);

// Whether a text output a user names (export -o, --endpoint-file) may replace what is at
// `path`: never a file that holds work, whatever it is called (an SQLite database and its
// -wal, -shm, -journal and .lock files, a fineprune model, a CURVE key file: recognised by
// their first bytes, a side file by its database's), nor one of `inputs`
// (the config or scenario the program reads; compared as files, links and all). OK when
// `path` is missing or none of those; else InvalidArgument "<what> <path> is <which>: not
// replaced; name another file".
Status check_output_target(const std::string& path, const std::string& what,
                           const std::vector<std::string>& inputs = {});

// A file a program writes later (an --endpoint-file, written once it listens): what
// check_output_target refuses, a folder, and a file that cannot be made (a file where its
// folder goes, no writing there), found at the start rather than once the program runs.
Status check_later_output(const std::string& path, const std::string& what,
                          const std::vector<std::string>& inputs = {});

// Whether `path` is a regular file that starts as an SQLite database does.
bool is_sqlite_database(const std::string& path);

// A file a user named for a program's output (export -o): a regular file is replaced whole
// (replace_file, its folder made), through a symbolic link the file the link names (the
// link stays), and anything else that is there (/dev/stdout, a pipe, a terminal) written to
// as it is, never replaced by a regular file.
// check_output_target first: an output never replaces a database, a model, a key or `inputs`.
Status write_output(const std::string& path, std::string_view bytes, const std::string& what,
                    const std::vector<std::string>& inputs = {});

}  // namespace fp
