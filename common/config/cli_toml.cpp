#include "config/cli_toml.h"

#include <fmt/format.h>

#include <algorithm>

#include "config/cli_checks.h"
#include "config/toml_reader.h"

namespace fp::config {

Result<std::vector<std::string>> toml_arguments(const CLI::App& app, const std::string& path,
                                                const std::set<std::string>& skip,
                                                std::map<std::string, std::string>* where) {
  FP_ASSIGN_OR_RETURN(toml::table root, parse_toml_file(path));
  TomlTable t(&root, "", path);
  std::vector<std::string> args;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_lnames().empty()) continue;
    const std::string name = opt->get_lnames().front();
    std::string key = name;
    std::replace(key.begin(), key.end(), '-', '_');
    // Not from a file: help, the caller's skipped ones, and options marked configurable(false).
    if (name == "help" || !opt->get_configurable() || skip.count(name) || skip.count(key)) continue;
    const std::string flag = "--" + name;
    const bool given = opt->count() > 0;
    if (where && !given && root.contains(key)) (*where)[flag] = t.at_key(key.c_str()) + key;
    if (opt->get_expected_max() == 0) {  // a flag
      bool on = false;
      FP_RETURN_IF_ERROR(t.get(key.c_str(), on));
      if (on && !given) args.push_back(flag);
    } else if (opt->get_expected_max() > 1) {  // repeatable
      std::vector<std::string> values;
      FP_RETURN_IF_ERROR(t.get_list(key.c_str(), values));
      if (given) continue;
      for (auto& v : values) {
        args.push_back(flag);
        args.push_back(v);
      }
    } else {
      // "INT", or "INT:>= 1" with a validator's description: the type is before the colon.
      std::string type = opt->get_type_name();
      type = type.substr(0, type.find(':'));
      std::string value;
      bool present = false;
      if (type == "INT") {
        int64_t probe = 0;
        FP_RETURN_IF_ERROR(t.get(key.c_str(), probe));
        present = root.contains(key);
        value = std::to_string(probe);
      } else if (type == "UINT") {
        uint64_t probe = 0;
        FP_RETURN_IF_ERROR(t.get(key.c_str(), probe));
        present = root.contains(key);
        value = std::to_string(probe);
      } else if (type == "FLOAT") {
        double probe = 0;
        FP_RETURN_IF_ERROR(t.get(key.c_str(), probe));
        present = root.contains(key);
        value = fmt::format("{}", probe);
      } else {
        FP_RETURN_IF_ERROR(t.get(key.c_str(), value));
        present = root.contains(key);
      }
      if (present && !given) {
        args.push_back(flag);
        args.push_back(value);
      }
    }
  }
  FP_RETURN_IF_ERROR(t.finish());
  return args;
}

int parse_with_config(CLI::App& app, int argc, char** argv, const std::string& config_option,
                      const std::set<std::string>& command_line_only) {
  // Its usage line names the program, as CLI11's own parse(argc, argv) has it say.
  if (argc > 0 && app.get_name().empty()) app.name(argv[0]);
  std::vector<std::string> cli(argv + 1, argv + argc);
  try {
    check_command_word(app, cli);
    std::vector<std::string> reversed(cli.rbegin(), cli.rend());
    app.parse(reversed);
    const CLI::Option* config = app.get_option(config_option);
    if (config->count() == 0) return -1;
    const std::string path = config->as<std::string>();
    std::set<std::string> skip = command_line_only;
    skip.insert(config_option.substr(2));
    std::map<std::string, std::string> where;
    auto extra = toml_arguments(app, path, skip, &where);
    if (!extra.ok()) {
      fmt::print(stderr, "{}\n", extra.status().message());
      return 2;
    }
    // The file's arguments first, then the command line's: the command line wins.
    std::vector<std::string> all = *extra;
    all.insert(all.end(), cli.begin(), cli.end());
    app.clear();
    std::vector<std::string> again(all.rbegin(), all.rend());
    try {
      app.parse(again);
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
      // A check's "--samples: must be ..." of a value the file gave names its line and key.
      const std::string what = e.what();
      const auto it = where.find(what.substr(0, what.find(':')));
      if (it != where.end())
        fmt::print(stderr, "{}{}\n", it->second, what.substr(it->first.size()));
      else  // the value may have come from the file: say which one was read
        fmt::print(stderr, "{} (options from the command line and {})\n", what, path);
      return e.get_exit_code();
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return -1;
}

}  // namespace fp::config
