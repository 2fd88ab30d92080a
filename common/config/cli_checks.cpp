#include "config/cli_checks.h"

#include <fmt/format.h>

#include <cmath>
#include <optional>

namespace fp::config {
namespace {

std::optional<double> number(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

CLI::Validator at_least(double low) {
  return CLI::Validator(
      [low](std::string& text) -> std::string {
        const auto v = number(text);
        if (!v) return "'" + text + "' is not a number";
        return *v >= low ? "" : fmt::format("must be at least {}, got {}", low, text);
      },
      fmt::format(">= {}", low));
}

CLI::Validator open_unit_interval() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto v = number(text);
        if (!v) return "'" + text + "' is not a number";
        return *v > 0 && *v < 1 ? "" : "must be in (0, 1), got " + text;
      },
      "in (0, 1)");
}

CLI::Validator share_below_one() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto v = number(text);
        if (!v) return "'" + text + "' is not a number";
        return *v >= 0 && *v < 1 ? "" : "must be in [0, 1), got " + text;
      },
      "in [0, 1)");
}

}  // namespace fp::config
