// fp-coordinator subcommands. Each adds itself to the CLI with its own --help.
#pragma once

#include <CLI/CLI.hpp>

namespace fp::coord {

void add_serve_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_register_command(CLI::App& app);
void add_status_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_dashboard_command(CLI::App& app);
void add_key_commands(CLI::App& app);  // keygen, enroll, revoke

// Options every subcommand shares: the config file, the database and the model
// directory; set on the command line they override the file.
struct CommonOptions {
  std::string config;
  std::string database;
  std::string models_dir;
};
void add_common_options(CLI::App* cmd, CommonOptions& options);

}  // namespace fp::coord
