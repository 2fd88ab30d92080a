#include "config/cli_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
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

// A validator of numbers that `ok` accepts; `need` says which ("at least 1"), as the
// error ("must be at least 1, got 0") and as the help's description (">= 1").
CLI::Validator number_check(std::function<bool(double)> ok, std::string need, std::string desc) {
  return CLI::Validator(
      [ok = std::move(ok), need = std::move(need)](std::string& text) -> std::string {
        const auto v = number(text);
        if (!v) return "'" + text + "' is not a number";
        return ok(*v) ? "" : "must be " + need + ", got " + text;
      },
      std::move(desc));
}

}  // namespace

CLI::Validator at_least(double low) {
  return number_check([low](double v) { return v >= low; }, fmt::format("at least {}", low),
                      fmt::format(">= {}", low));
}

CLI::Validator in_range(double low, double high) {
  return number_check([low, high](double v) { return v >= low && v <= high; },
                      fmt::format("{} to {}", low, high), fmt::format("in [{}, {}]", low, high));
}

CLI::Validator positive() {
  return number_check([](double v) { return v > 0; }, "positive", "> 0");
}

CLI::Validator open_unit_interval() {
  return number_check([](double v) { return v > 0 && v < 1; }, "in (0, 1)", "in (0, 1)");
}

CLI::Validator share_below_one() {
  return number_check([](double v) { return v >= 0 && v < 1; }, "in [0, 1)", "in [0, 1)");
}

namespace {

// The range check of one option, by its CLI11 type name ("INT" or "UINT"); empty: none.
std::optional<CLI::Validator> integer_range(const std::string& type) {
  const bool is_unsigned = type.rfind("UINT", 0) == 0;
  if (!is_unsigned && type.rfind("INT", 0) != 0) return std::nullopt;
  return CLI::Validator(
      [is_unsigned](std::string& text) -> std::string {
        const auto first = text.find_first_not_of(" \t");
        if (is_unsigned && first != std::string::npos && text[first] == '-')
          return "must not be negative, got " + text;
        errno = 0;
        char* end = nullptr;
        if (is_unsigned)
          (void)std::strtoull(text.c_str(), &end, 0);
        else
          (void)std::strtoll(text.c_str(), &end, 0);
        if (errno != ERANGE) return "";  // CLI11 names any other fault itself
        return fmt::format("'{}' is out of range (at most {})", text,
                           is_unsigned ? std::to_string(UINT64_MAX) : std::to_string(INT64_MAX));
      },
      "");  // no description: the help's type names stay as they were
}

}  // namespace

void add_integer_range_checks(CLI::App& app) {
  for (CLI::Option* opt : app.get_options())
    if (auto check = integer_range(opt->get_type_name())) opt->check(*check);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    add_integer_range_checks(*sub);
}

void check_command_word(const CLI::App& app, const std::vector<std::string>& args) {
  // Option groups are nameless subcommands; get_option_no_throw finds their options.
  const auto commands =
      app.get_subcommands([](const CLI::App* sub) { return !sub->get_name().empty(); });
  if (commands.empty()) return;
  for (const auto* opt : app.get_options())
    if (opt->get_positional()) return;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--") return;
    if (word.size() > 1 && word[0] == '-') {
      if (word.find('=') != std::string::npos) continue;
      const CLI::Option* opt = app.get_option_no_throw(word);
      if (opt == nullptr) return;  // CLI11 names an unknown option itself
      if (opt->get_expected_max() > 1) return;
      if (opt->get_expected_min() > 0) ++i;  // its value
      continue;
    }
    for (const CLI::App* sub : commands)
      if (sub->check_name(word)) return;
    std::string names;
    for (const CLI::App* sub : commands)
      if (!sub->get_group().empty())  // hidden ones stay so
        names += (names.empty() ? "" : ", ") + sub->get_name();
    throw CLI::ExtrasError("'" + word + "' is no command; the commands are: " + names,
                           CLI::ExitCodes::ExtrasError);
  }
}

int parse_command_line(CLI::App& app, int argc, const char* const* argv) {
  try {
    check_command_word(app, std::vector<std::string>(argv + std::min(argc, 1), argv + argc));
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return -1;
}

CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return text.empty() ? "must not be empty (\"\" is no file or folder)" : "";
      },
      "");
}

CLI::Validator log_level() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        for (const char* known :
             {"trace", "debug", "info", "warn", "warning", "err", "error", "critical", "off"})
          if (text == known) return "";
        return "'" + text + "' is no log level (trace, debug, info, warn, error, critical, off)";
      },
      "LEVEL");
}

}  // namespace fp::config
