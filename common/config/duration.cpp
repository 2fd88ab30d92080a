#include "config/duration.h"

#include <cmath>
#include <cstdlib>

namespace fp::config {

Result<std::chrono::milliseconds> parse_duration(const std::string& text) {
  const auto bad = [&] {
    return Status::invalid_argument("'" + text +
                                    "' is not a duration (e.g. 90s, 15m, 2h, 1500ms, 1d)");
  };
  if (text.empty()) return bad();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(value) || value < 0) return bad();
  const std::string unit(end);
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = value * 1e3;
  } else if (unit == "ms") {
    ms = value;
  } else if (unit == "m" || unit == "min") {
    ms = value * 60e3;
  } else if (unit == "h") {
    ms = value * 3600e3;
  } else if (unit == "d") {
    ms = value * 86400e3;
  } else {
    return bad();
  }
  if (ms > 1e15) return bad();
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

}  // namespace fp::config
