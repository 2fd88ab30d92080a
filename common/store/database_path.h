// What a database path must be before SQLite opens it or a lock file is made beside it.
#pragma once

#include <filesystem>
#include <string>

#include "util/status.h"

namespace fp::store {

// Invalid argument when `path` names a folder (SQLite says only "disk I/O error" of one);
// OK otherwise, ":memory:" included.
inline Status check_database_path(const std::string& path) {
  std::error_code ec;
  if (path != ":memory:" && std::filesystem::is_directory(path, ec))
    return Status::invalid_argument("database " + path + " is a folder, not an SQLite file");
  return Status::ok_status();
}

}  // namespace fp::store
