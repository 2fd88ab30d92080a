// A folder of its own under the system's temporary folder for work nobody else reads (a
// database copy a check migrates), removed with everything in it when it goes.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

// Removes the folders in `dir` named `<prefix><pid>` or `<prefix><pid>.<anything>` whose
// process is gone (a kill -9, a stopped program left them), this user's only; returns their
// paths. A live process, or one of another user, keeps its own.
std::vector<std::string> remove_folders_of_gone_processes(const std::string& dir,
                                                          const std::string& prefix);
// The same for regular files so named (a scratch file a killed writer left).
std::vector<std::string> remove_files_of_gone_processes(const std::string& dir,
                                                        const std::string& prefix);

// What util/file_io.h's stage_file names a file's scratch file before its "<pid>.<n>":
// "<path>.tmp.<this machine's name>." (its letters, digits, '-' and '_'; others as '_').
std::string scratch_file_prefix(const std::string& path);
// Removes the scratch files in `dir` that writers on this machine, now gone, left beside any
// file (a folder whose files are named anew each time, as a device's kept models are);
// returns their paths.
std::vector<std::string> remove_scratch_files_of_gone_writers(const std::string& dir);

class ScratchFolder {
 public:
  // mkdtemp under std::filesystem::temp_directory_path(), named "<tag>.<pid>.XXXXXX".
  // Removes this user's folders of the same tag whose process is gone first (a kill -9
  // left them).
  static Result<ScratchFolder> make(const std::string& tag);
  ScratchFolder(ScratchFolder&& other) noexcept;
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  ScratchFolder& operator=(ScratchFolder&&) = delete;
  ~ScratchFolder();

  const std::string& path() const { return path_; }

 private:
  explicit ScratchFolder(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace fp
