// fp-coordinator register: add an existing model artifact to the registry.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "coordinator/campaign_setup.h"
#include "coordinator_commands.h"
#include "util/clock.h"

namespace fp::coord {

void add_register_command(CLI::App& app) {
  auto common = std::make_shared<CommonOptions>();
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("register", "Register an existing model artifact (.fpm)");
  add_common_options(cmd, *common);
  cmd->add_option("artifact", *path, "model artifact file")->required()->check(CLI::ExistingFile);
  cmd->callback([common, path] {
    CoordinatorConfig cfg = config_for(*common);
    auto store = open_database(cfg);
    ModelRegistry registry(cfg.models_dir, *store);
    auto record = register_artifact(registry, *path, unix_now());
    if (!record.ok()) fail(record.status());
    fmt::print("{}  {} bytes  {}\n", record->sha256, record->size_bytes, record->spec_json);
  });
}

}  // namespace fp::coord
