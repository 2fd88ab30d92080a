// fp-coordinator subcommands. Each adds itself to the CLI with its own --help.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/config.h"
#include "store/store.h"
#include "store/store_to_read.h"
#include "util/status.h"

namespace fp {
struct Dataset;  // data/dataset.h (torch): only the commands that train or calibrate need it
}

namespace fp::coord {

void add_serve_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_register_command(CLI::App& app);
void add_status_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_dashboard_command(CLI::App& app);
void add_retry_command(CLI::App& app);
void add_key_commands(CLI::App& app);     // keygen, enroll, revoke
void add_backup_commands(CLI::App& app);  // backup, restore

// Who `serve` says it is in its database's lock file: `retry` works beside it.
inline constexpr const char* kServeHolder = "fp-coordinator serve";

// fp-coordinator serve --check (cmd_serve_check.cpp): what `serve` would do with `config`
// at its start, found without changing the database, the model folder or the keys; prints
// "ready: ..." and returns 0, or logs what is wrong and returns 2.
int check_serving(const CoordinatorConfig& config);
// Raises the descriptor limit as far as allowed and warns when it is below what
// `max_agents` and a dashboard need (cmd_serve.cpp).
void reserve_descriptors(uint32_t max_agents, bool dashboard);

// Options every subcommand shares: the config file, the database and the model
// directory; set on the command line they override the file.
struct CommonOptions {
  std::string config;
  std::string database;
  std::string models_dir;
};
void add_common_options(CLI::App* cmd, CommonOptions& options);

// Ends a subcommand: logs `why` and exits with `code` (2: the configuration, 1: else).
[[noreturn]] void fail(const Status& why, int code = 1);
// The configuration file with --db and --models-dir applied; fails (2) when invalid.
CoordinatorConfig config_for(const CommonOptions& options);
// A command that needs the database fails (1) when there is none, so a typo makes no empty
// one, or when it is an empty file (which SQLite would take for a new database).
void fail_unless_there(const CoordinatorConfig& config);
// After `train` or `register` made `model_sha` the newest model: warns when the config's
// [campaign] names "latest" and a stored campaign of its name has another model, which the
// next `serve -c` of that config refuses ("already exists ... model"): a crash restart of a
// service left it down.
void warn_if_latest_moves_campaign(const CoordinatorConfig& config, store::Store& store,
                                   const std::string& model_sha);
// The models folder is one, or one this process could make (a file in its place passed
// serve --check, and train trained the model before failing to store it).
Status check_models_folder(const CoordinatorConfig& config);
// The configured database; fails (1) when it cannot be opened, or with `must_exist`
// when there is none yet (so a typo does not create an empty one).
std::unique_ptr<store::Store> open_database(const CoordinatorConfig& config,
                                            bool must_exist = false);

// For the commands that only read (status, export, report): the database as it is, never
// migrated in place (an older schema is read from a migrated copy in `scratch`, as serve
// --check reads it), so an older program or a stopped coordinator finds its file unchanged.
// A missing file is an error naming it, nothing made.
using DatabaseToRead = store::StoreToRead;
DatabaseToRead open_database_to_read(const CoordinatorConfig& config);
// The id of the campaign called `name` among `campaigns`, 0 for an empty name (every
// campaign); fails (1) naming the campaigns there are when none is called so.
int64_t campaign_id_named(const std::vector<store::CampaignRecord>& campaigns,
                          const std::string& name);
// The general labeled data [train] names (at most `limit` samples; 0: all); fails (1) when
// they cannot be read. In cmd_train.cpp.
Dataset load_train_data(const TrainSection& train, int64_t limit);

}  // namespace fp::coord
