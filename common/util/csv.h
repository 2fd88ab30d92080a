// One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a separator, a
// quote or a line break; as is otherwise. Shared by every CSV export.
//
// Text a device chose (its id, an individual's name) may begin like a spreadsheet formula
// ("=HYPERLINK(...)"): such a field gets a leading apostrophe, which spreadsheets take as
// "text" and hide (OWASP's CSV injection advice). Numbers ("-0.25", "+1.5") are left as they
// are: a sign followed by a digit or a point is not a formula.
#pragma once

#include <cctype>
#include <string>

namespace fp {

// Whether a spreadsheet would read `s` as a formula.
inline bool looks_like_formula(const std::string& s) {
  if (s.empty()) return false;
  const char c = s[0];
  if (c == '=' || c == '@' || c == '\t' || c == '\r') return true;
  if (c != '+' && c != '-') return false;
  // A lone sign is a table's "no value"; a sign before a digit, a point or a space, a number.
  return s.size() > 1 &&
         !(std::isdigit(static_cast<unsigned char>(s[1])) || s[1] == '.' || s[1] == ' ');
}

inline std::string csv_field(const std::string& text) {
  const std::string s = looks_like_formula(text) ? "'" + text : text;
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace fp
