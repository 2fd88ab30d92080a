#include <spdlog/spdlog.h>

#include <filesystem>

#include "coordinator_commands.h"
#include "util/file_io.h"

namespace fp::coord {

void add_common_options(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("-c,--config", o.config, "TOML configuration file")->check(CLI::ExistingFile);
  cmd->add_option("--db", o.database, "SQLite database (default: fineprune.db)");
  cmd->add_option("--models-dir", o.models_dir, "model registry directory (default: models)");
}

void fail(const Status& why, int code) {
  spdlog::error("{}", why.to_string());
  throw CLI::RuntimeError(code);
}

CoordinatorConfig config_for(const CommonOptions& o) {
  auto loaded = load_config(o.config);
  if (!loaded.ok()) fail(loaded.status(), 2);
  CoordinatorConfig cfg = std::move(loaded).value();
  if (!o.database.empty()) cfg.database = o.database;
  if (!o.models_dir.empty()) cfg.models_dir = o.models_dir;
  return cfg;
}

void fail_unless_there(const CoordinatorConfig& cfg) {
  // Status and export wrote a schema into an empty file.
  if (Status empty = store::empty_database_problem(cfg.database); !empty.ok())
    fail(Status::invalid_argument(empty.message() +
                                  "; check --db or the configuration's server.database"));
  if (std::filesystem::exists(cfg.database)) return;
  fail(Status::not_found("database " + cfg.database +
                         " does not exist (fp-coordinator train, register or serve creates it; "
                         "check --db or the configuration's server.database)"));
}

void warn_if_latest_moves_campaign(const CoordinatorConfig& cfg, store::Store& store,
                                   const std::string& model_sha) {
  const CampaignSection& c = cfg.campaign;
  if (!c.present || c.model != "latest") return;
  auto stored = store.find_campaign(c.name);
  if (!stored.ok() || !*stored || (*stored)->model_sha256 == model_sha) return;
  spdlog::warn(
      "campaign '{}' is stored with model {}, and the configuration's [campaign] names "
      "\"latest\", now {}: 'fp-coordinator serve' with this configuration refuses to start "
      "until its [campaign] has a new name (a new campaign on the new model) or names model "
      "{} (docs/DEPLOY.md)",
      c.name, (*stored)->model_sha256.substr(0, 12), model_sha.substr(0, 12),
      (*stored)->model_sha256.substr(0, 12));
}

Status check_models_folder(const CoordinatorConfig& cfg) {
  std::error_code ec;
  if (std::filesystem::exists(cfg.models_dir, ec) &&
      !std::filesystem::is_directory(cfg.models_dir, ec))
    return Status::invalid_argument("server.models_dir " + cfg.models_dir +
                                    " is a file, not a folder");
  return check_can_make(cfg.models_dir, "models folder");
}

std::unique_ptr<store::Store> open_database(const CoordinatorConfig& cfg, bool must_exist) {
  if (must_exist) fail_unless_there(cfg);
  auto store = store::Store::open(cfg.database);
  if (!store.ok()) fail(store.status());
  return std::move(store).value();
}

DatabaseToRead open_database_to_read(const CoordinatorConfig& cfg) {
  fail_unless_there(cfg);
  auto read = store::open_to_read(cfg.database, "fp-read");
  if (!read.ok()) fail(read.status());
  return std::move(read).value();
}

int64_t campaign_id_named(const std::vector<store::CampaignRecord>& campaigns,
                          const std::string& name) {
  if (name.empty()) return 0;
  std::string names;
  for (const auto& c : campaigns) {
    if (c.name == name) return c.id;
    names += (names.empty() ? "" : ", ") + c.name;
  }
  fail(Status::not_found("no campaign named '" + name +
                         "' (the database holds: " + (names.empty() ? "none" : names) + ")"));
}

}  // namespace fp::coord
