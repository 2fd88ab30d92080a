// fp-sim subcommands; each adds itself to the CLI with its own options and --help.
#pragma once

#include <CLI/CLI.hpp>

namespace fp::sim {

void add_run_command(CLI::App& app);     // run_command.cpp
void add_host_command(CLI::App& app);    // host_command.cpp
void add_list_command(CLI::App& app);    // report_command.cpp
void add_report_command(CLI::App& app);  // report_command.cpp
void add_export_command(CLI::App& app);  // report_command.cpp
void add_pool_command(CLI::App& app);    // report_command.cpp

}  // namespace fp::sim
