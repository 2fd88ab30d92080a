// One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a separator, a
// quote or a line break; as is otherwise. Shared by every CSV export.
#pragma once

#include <string>

namespace fp {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace fp
