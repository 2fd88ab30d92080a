#include "dashboard/query.h"

#include <algorithm>
#include <cctype>

namespace fp::dash {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::optional<std::string> percent_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';  // form encoding, as browsers send URLSearchParams
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

Result<Query> Query::parse(const std::string& query, const std::vector<std::string>& allowed) {
  Query out;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;  // "a=1&&b=2"
    const size_t eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq));
    auto value = percent_decode(eq == std::string::npos ? "" : pair.substr(eq + 1));
    if (!name || !value) {
      return Status::invalid_argument("query parameter '" + pair + "' has a bad %-escape");
    }
    if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
      return Status::invalid_argument(
          "unknown query parameter '" + *name + "'" +
          (allowed.empty() ? ": this endpoint takes none" : " (known: " + joined(allowed) + ")"));
    }
    if (!out.values_.emplace(*name, *value).second) {
      return Status::invalid_argument("query parameter '" + *name + "' is given twice");
    }
  }
  return out;
}

std::optional<std::string> Query::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Result<int64_t> Query::integer(const std::string& name, int64_t fallback, int64_t min,
                               int64_t max) const {
  auto text = get(name);
  if (!text) return fallback;
  const bool digits =
      !text->empty() && text->size() <= 18 && std::all_of(text->begin(), text->end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      });
  const int64_t value = digits ? std::stoll(*text) : -1;
  if (!digits || value < min || value > max) {
    return Status::invalid_argument("query parameter '" + name + "' must be an integer from " +
                                    std::to_string(min) + " to " + std::to_string(max) + ", not '" +
                                    *text + "'");
  }
  return value;
}

Result<std::string> Query::choice(const std::string& name, const std::string& fallback,
                                  const std::vector<std::string>& choices) const {
  auto text = get(name);
  if (!text) return fallback;
  if (std::find(choices.begin(), choices.end(), *text) == choices.end()) {
    return Status::invalid_argument("query parameter '" + name + "' must be one of " +
                                    joined(choices) + ", not '" + *text + "'");
  }
  return *text;
}

}  // namespace fp::dash
