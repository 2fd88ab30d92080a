#include "config/toml_reader.h"

#include <fstream>
#include <sstream>

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

Result<std::string> read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(what + " " + path + " cannot be opened");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Result<toml::table> parse_toml_file(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::string text, read_text_file(path, "config file"));
  return parse_toml(text, path);
}

}  // namespace fp::config
