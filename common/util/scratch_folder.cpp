#include "util/scratch_folder.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace fp {

Result<ScratchFolder> ScratchFolder::make(const std::string& tag) {
  std::error_code ec;
  std::string pattern = (std::filesystem::temp_directory_path(ec) / (tag + ".XXXXXX")).string();
  if (ec) return Status::io_error("no temporary folder for " + tag + ": " + ec.message());
  if (::mkdtemp(pattern.data()) == nullptr)
    return Status::io_error("making a scratch folder " + pattern + ": " + std::strerror(errno));
  return ScratchFolder(pattern);
}

ScratchFolder::ScratchFolder(ScratchFolder&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

ScratchFolder::~ScratchFolder() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

}  // namespace fp
