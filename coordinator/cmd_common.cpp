#include "commands.h"

namespace fp::coord {

void add_common_options(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("-c,--config", o.config, "TOML configuration file")->check(CLI::ExistingFile);
  cmd->add_option("--db", o.database, "SQLite database (default: fineprune.db)");
  cmd->add_option("--models-dir", o.models_dir, "model registry directory (default: models)");
}

}  // namespace fp::coord
