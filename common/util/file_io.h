// Whole files in and out, with errors that name the file: what configs, scenarios,
// reports, exports and private-data files are read and written with.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace fp {

// The file's bytes; NotFound "<what> <path> cannot be opened".
Result<std::string> read_file(const std::string& path, const std::string& what = "file");

// Creates or truncates `path` and writes `bytes`; IoError "writing <what> <path>: <reason>".
Status write_file(const std::string& path, std::string_view bytes,
                  const std::string& what = "file");

}  // namespace fp
