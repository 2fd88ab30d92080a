#include "util/file_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fp {

Result<std::string> read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(what + " " + path + " cannot be opened");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Status write_file(const std::string& path, std::string_view bytes, const std::string& what) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    return Status::io_error("writing " + what + " " + path + ": " +
                            (errno ? std::strerror(errno) : "stream error"));
  }
  return Status::ok_status();
}

}  // namespace fp
