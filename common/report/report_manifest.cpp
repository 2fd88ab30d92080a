#include "report/report_manifest.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "util/file_io.h"
#include "util/folder_lock.h"

namespace fp::report {
namespace fs = std::filesystem;

namespace {

// `line` as a path inside the folder: relative, without "..", else empty.
fs::path inside(const std::string& line) {
  const fs::path p = fs::path(line).lexically_normal();
  if (line.empty() || p.is_absolute() || p.empty() || *p.begin() == "..") return {};
  return p;
}

}  // namespace

Status replace_report_manifest(const std::string& dir, const std::vector<std::string>& written) {
  const fs::path root(dir);
  std::set<fs::path> now;
  std::string listing;
  for (const auto& path : written) {
    const fs::path relative = fs::path(path).lexically_relative(root).lexically_normal();
    now.insert(relative);
    listing += relative.generic_string() + "\n";
  }
  const fs::path manifest = root / kReportManifest;
  std::error_code ec;
  if (fs::exists(manifest, ec)) {
    FP_ASSIGN_OR_RETURN(std::string before, read_file(manifest.string(), "report manifest"));
    std::istringstream lines(before);
    for (std::string line; std::getline(lines, line);) {
      const fs::path p = inside(line);
      if (p.empty() || now.count(p)) continue;
      if (!fs::is_regular_file(fs::symlink_status(root / p, ec))) continue;
      fs::remove(root / p, ec);
      // Its folders, while empty, up to the report folder.
      for (fs::path up = p.parent_path(); !up.empty(); up = up.parent_path())
        if (!fs::is_empty(root / up, ec) || ec || !fs::remove(root / up, ec)) break;
    }
  }
  return replace_file(manifest.string(), listing, "report manifest", /*durable=*/false);
}

Status put_report_in_place(const std::string& dir, StagedFiles& files) {
  const FolderLock one_writer(dir);
  FP_RETURN_IF_ERROR(files.commit());
  return replace_report_manifest(dir, files.paths());
}

}  // namespace fp::report
