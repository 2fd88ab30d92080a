// A program's command-line options read from a TOML file, through the one strict
// reader (toml_reader.h): option --give-up-after is key give_up_after. Flags take
// booleans, repeatable options arrays of strings, the others a value of the option's
// type. The command line wins over the file; a key that names no option is refused
// with its file, line and name.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp::config {

// The arguments the file adds for `app`'s options the command line left unset
// (app must have parsed the command line already). `skip` names options that are no
// keys (e.g. "config" itself). `where` (optional) receives, for each option the file set,
// "<file>:<line>: <key>", to name a value the option's checks then refuse.
Result<std::vector<std::string>> toml_arguments(
    const CLI::App& app, const std::string& path, const std::set<std::string>& skip,
    std::map<std::string, std::string>* where = nullptr);

// Parses the command line, then (when the option named `config_option` is given)
// parses again with the file's arguments added. Returns the process exit code to use
// on failure (with the message printed), or -1 to continue. `command_line_only` names
// options a file may not set (a key naming one is refused as unknown).
int parse_with_config(CLI::App& app, int argc, char** argv, const std::string& config_option,
                      const std::set<std::string>& command_line_only = {});

}  // namespace fp::config
