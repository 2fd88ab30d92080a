// How often a piece of text occurs in a page, a log or a file's contents.
#pragma once

#include <cstddef>
#include <string>

namespace fp::testing {

// Occurrences of `needle` in `text`, overlapping ones included.
inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace fp::testing
