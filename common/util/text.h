// Text that came from a peer or a database: is it clean UTF-8 without control
// characters, and how to show any bytes safely on one log line or a terminal.
#pragma once

#include <string>
#include <string_view>

namespace fp {

// Empty when `s` is valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF) and
// holds no control character (C0, DEL, C1) and no bidirectional control (U+202E, which
// shows text reversed, ...); otherwise what is wrong and where.
std::string text_problem(std::string_view s);

// `s` with control characters (bidirectional ones too) written as \n, \t, \r, \uXXXX and bytes that
// are not valid UTF-8 as \xNN (and '\' as "\\"): one line, no terminal escapes, still readable.
std::string escape_text(std::string_view s);

// escape_text(s) cut to at most `max_bytes` at a character boundary: text that passes
// text_problem(), for a message field with a length limit.
std::string clean_text(std::string_view s, size_t max_bytes);

// `s` between two `quote`s, with that quote, backslashes and control characters escaped
// (\uXXXX): a TOML basic string ('"') or a Python string literal ('\'') reading back as `s`.
std::string quoted_string(std::string_view s, char quote);

// Whether `s` ends with `tail` (names, extensions, buffer keys).
bool ends_with(std::string_view s, std::string_view tail);

// `s` with ASCII letters in lower case (other bytes as they are): case-insensitive
// comparisons of names, extensions and search text.
std::string ascii_lower(std::string_view s);

}  // namespace fp
