// fp-coordinator register: add an existing model artifact to the registry.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/clock.h"
#include "coordinator/campaign_setup.h"
#include "commands.h"

namespace fp::coord {

void add_register_command(CLI::App& app) {
  auto common = std::make_shared<CommonOptions>();
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("register", "Register an existing model artifact (.fpm)");
  add_common_options(cmd, *common);
  cmd->add_option("artifact", *path, "model artifact file")->required()->check(CLI::ExistingFile);
  cmd->callback([common, path] {
    auto cfg = load_config(common->config);
    if (!cfg.ok()) {
      spdlog::error("{}", cfg.status().to_string());
      throw CLI::RuntimeError(2);
    }
    std::string db = common->database.empty() ? cfg->database : common->database;
    std::string dir = common->models_dir.empty() ? cfg->models_dir : common->models_dir;
    auto store = store::Store::open(db);
    if (!store.ok()) {
      spdlog::error("{}", store.status().to_string());
      throw CLI::RuntimeError(1);
    }
    ModelRegistry registry(dir, **store);
    auto record = register_artifact(registry, *path, unix_now());
    if (!record.ok()) {
      spdlog::error("{}", record.status().to_string());
      throw CLI::RuntimeError(1);
    }
    fmt::print("{}  {} bytes  {}\n", record->sha256, record->size_bytes, record->spec_json);
  });
}

}  // namespace fp::coord
