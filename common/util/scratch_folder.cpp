#include "util/scratch_folder.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

namespace fp {
namespace fs = std::filesystem;

namespace {

// The pid in "<prefix><pid>" or "<prefix><pid>.<anything>", or 0 where the name is not of
// that form.
pid_t pid_after(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return 0;
  const std::string rest = name.substr(prefix.size());
  const size_t end = std::min(rest.find('.'), rest.size());
  if (end == 0 || end > 9) return 0;
  for (size_t i = 0; i < end; ++i)
    if (rest[i] < '0' || rest[i] > '9') return 0;
  return static_cast<pid_t>(std::stol(rest.substr(0, end)));
}

std::vector<std::string> remove_of_gone_processes(const std::string& dir, const std::string& prefix,
                                                  bool folders) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const pid_t pid = pid_after(it->path().filename().string(), prefix);
    if (pid <= 0 || pid == ::getpid()) continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || st.st_uid != ::geteuid() ||
        !(folders ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
      continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to ask
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (!rm) removed.push_back(it->path().string());
  }
  return removed;
}

}  // namespace

std::vector<std::string> remove_folders_of_gone_processes(const std::string& dir,
                                                          const std::string& prefix) {
  return remove_of_gone_processes(dir, prefix, true);
}

std::vector<std::string> remove_files_of_gone_processes(const std::string& dir,
                                                        const std::string& prefix) {
  return remove_of_gone_processes(dir, prefix, false);
}

std::string scratch_file_prefix(const std::string& path) {
  static const std::string host = [] {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return std::string("host");
    std::string out;
    for (const char* c = name; *c != '\0' && out.size() < 64; ++c)
      out += std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '_' ? *c : '_';
    return out;
  }();
  return path + ".tmp." + host + ".";
}

std::vector<std::string> remove_scratch_files_of_gone_writers(const std::string& dir) {
  const std::string marker = scratch_file_prefix("");  // ".tmp.<machine>.
  std::set<std::string> prefixes;  // "<file>.tmp.<machine>." of the scratch files there
  std::error_code ec;
  for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(marker);
    if (at != std::string::npos && at > 0) prefixes.insert(name.substr(0, at + marker.size()));
  }
  std::vector<std::string> removed;
  for (const auto& prefix : prefixes)
    for (auto& path : remove_files_of_gone_processes(dir, prefix)) removed.push_back(path);
  return removed;
}

Result<ScratchFolder> ScratchFolder::make(const std::string& tag) {
  std::error_code ec;
  const fs::path temp = fs::temp_directory_path(ec);
  if (ec) return Status::io_error("no temporary folder for " + tag + ": " + ec.message());
  // A process killed (kill -9, a crash) never removes its scratch folder: the next one of
  // the same tag removes those whose process is gone.
  remove_folders_of_gone_processes(temp.string(), tag + ".");
  std::string pattern = (temp / (tag + "." + std::to_string(::getpid()) + ".XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr)
    return Status::io_error("making a scratch folder " + pattern + ": " + std::strerror(errno));
  return ScratchFolder(pattern);
}

ScratchFolder::ScratchFolder(ScratchFolder&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

ScratchFolder::~ScratchFolder() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

}  // namespace fp
