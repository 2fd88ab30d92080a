// The query string of an API request, decoded and checked:
//   "?limit=50&q=agent%20007" -> limit "50", q "agent 007".
// Strict like the rest of the API: an unknown or repeated parameter, a bad %-escape or
// an out-of-range number is InvalidArgument naming it (the API answers 400).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp::dash {

class Query {
 public:
  // `query` is what follows '?' (may be empty); `allowed` the parameter names it may use.
  static Result<Query> parse(const std::string& query, const std::vector<std::string>& allowed);

  // The decoded value of `name`, or nothing when absent.
  std::optional<std::string> get(const std::string& name) const;
  // `name` as an integer in [min, max]; `fallback` when absent.
  Result<int64_t> integer(const std::string& name, int64_t fallback, int64_t min,
                          int64_t max) const;
  // `name` as one of `choices`; `fallback` when absent.
  Result<std::string> choice(const std::string& name, const std::string& fallback,
                             const std::vector<std::string>& choices) const;

 private:
  std::map<std::string, std::string> values_;
};

// "%41+b" -> "A b"; nothing for a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(const std::string& text);

}  // namespace fp::dash
