#include "config/toml_reader.h"

#include "util/file_io.h"

namespace fp::config {

Result<toml::table> parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    auto line = e.source().begin.line;
    return Status::invalid_argument(source + (line > 0 ? ":" + std::to_string(line) : "") +
                                    ": not valid TOML: " + std::string(e.description()));
  }
}

Result<toml::table> parse_toml_file(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::string text, read_file(path, "config file"));
  return parse_toml(text, path);
}

}  // namespace fp::config
