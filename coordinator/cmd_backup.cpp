// fp-coordinator backup / restore: what a coordinator keeps — its database, the registered
// models' files and its CURVE key pair — copied into a new folder while it serves, and put
// back while it does not. Copying fineprune.db by hand while it serves is not a backup: its
// last commits are in the -wal file beside it, and an old -wal beside a restored database
// would be replayed into it.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <utility>
#include <vector>

#include "coordinator/model_registry.h"
#include "coordinator_commands.h"
#include "security/keys.h"
#include "store/serve_lock.h"
#include "util/file_io.h"
#include "util/scratch_folder.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fp::coord {
namespace {
namespace fs = std::filesystem;

// Removes the <folder>.partial-<pid> folders that backups to this name left when they were
// stopped (SIGINT, SIGKILL: the process is gone), this user's only. Nothing else removed them,
// and restore refuses them: an interrupted nightly backup left one a night.
void remove_stopped_backups(const std::string& folder) {
  const fs::path named = fs::path(folder).lexically_normal();
  for (const auto& path : remove_folders_of_gone_processes(named.parent_path().string(),
                                                           named.filename().string() + ".partial-"))
    spdlog::info("removed {}, left by a backup that was stopped (its process is gone)", path);
}

// A backup folder's layout: the database under its own file name, models/<sha256>.fpm,
// keys/<key name>.pub and .key, and missing_models.txt ("<sha256> <why>" lines) naming the
// registered models whose file could not be backed up.
struct BackupLayout {
  std::string database, models, key, missing;
  BackupLayout(const std::string& folder, const CoordinatorConfig& cfg)
      : database((fs::path(folder) / fs::path(cfg.database).filename()).string()),
        models((fs::path(folder) / "models").string()),
        key((fs::path(folder) / "keys" / fs::path(cfg.key).filename()).string()),
        missing((fs::path(folder) / "missing_models.txt").string()) {}
};

// The layout a backup folder holds, found as it is: its database and key pair under the names
// of the coordinator that made it, which a restoring config may name otherwise (it was looked
// for under the restoring config's names: "the backup holds no key pair", and it did).
Result<BackupLayout> layout_found(const std::string& folder, const CoordinatorConfig& cfg) {
  BackupLayout layout(folder, cfg);
  std::error_code ec;
  if (!is_sqlite_database(layout.database)) {
    std::vector<std::string> databases;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
      if (is_sqlite_database(it->path().string())) databases.push_back(it->path().string());
    if (databases.empty())
      return Status::not_found("--from: " + folder +
                               " holds no database (a folder 'fp-coordinator backup' made "
                               "holds one)");
    if (databases.size() > 1)
      return Status::invalid_argument(
          fmt::format("--from: {} holds {} databases ({}): restore from a folder "
                      "'fp-coordinator backup' made",
                      folder, databases.size(), fmt::join(databases, ", ")));
    layout.database = databases.front();
  }
  if (!fs::exists(security::secret_key_path(layout.key), ec)) {
    std::vector<std::string> keys;  // without .key
    const fs::path key_folder = fs::path(folder) / "keys";
    for (fs::directory_iterator it(key_folder, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".key")
        keys.push_back((key_folder / it->path().stem()).string());
    if (keys.size() > 1)
      return Status::invalid_argument(fmt::format(
          "--from: {} holds {} key pairs ({}): restore from a folder 'fp-coordinator backup' "
          "made",
          folder, keys.size(), fmt::join(keys, ", ")));
    if (keys.size() == 1) layout.key = keys.front();
  }
  return layout;
}

// What restore would replace that the backup itself is (restoring from the live folder, or
// --key naming the backup's key pair): it was moved aside first, and the copy then failed,
// leaving neither.
Status check_not_restoring_onto_itself(const BackupLayout& from, const CoordinatorConfig& cfg) {
  const std::pair<std::string, std::string> pairs[] = {
      {from.database, cfg.database},
      {security::secret_key_path(from.key), security::secret_key_path(cfg.key)},
      {security::public_key_path(from.key), security::public_key_path(cfg.key)}};
  for (const auto& [in_backup, target] : pairs) {
    std::error_code ec;
    if (fs::equivalent(in_backup, target, ec))
      return Status::invalid_argument("--from: the backup's " + in_backup + " is " + target +
                                      ", which the restore replaces: copy the backup to a "
                                      "folder of its own first");
  }
  return Status::ok_status();
}

// Each place the restore writes can take what goes there: checked before anything is moved
// aside (a models folder that was a file failed after the database had been replaced).
Status check_restore_targets(const CoordinatorConfig& cfg, bool with_keys) {
  std::error_code ec;
  FP_RETURN_IF_ERROR(check_can_make(cfg.database, "database"));
  if (fs::is_directory(cfg.database, ec))
    return Status::invalid_argument("database " + cfg.database + " is a folder");
  FP_RETURN_IF_ERROR(check_models_folder(cfg));
  if (with_keys) FP_RETURN_IF_ERROR(check_can_make(security::secret_key_path(cfg.key), "key pair"));
  return Status::ok_status();
}

// ".before-restore-<seconds>", with a count when a restore in the same second used it.
std::string aside_suffix(const CoordinatorConfig& cfg) {
  const std::string base = ".before-restore-" + std::to_string(::time(nullptr));
  for (int n = 0;; ++n) {
    const std::string suffix = n == 0 ? base : base + "." + std::to_string(n);
    bool taken = false;
    for (const std::string& p :
         {cfg.database, cfg.database + "-wal", cfg.database + "-shm",
          security::public_key_path(cfg.key), security::secret_key_path(cfg.key)}) {
      std::error_code ec;
      taken = taken || fs::exists(fs::symlink_status(p + suffix, ec));
    }
    if (!taken) return suffix;
  }
}

// A backup's missing_models.txt: why each model left out is not there, by SHA-256.
std::map<std::string, std::string> recorded_missing(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream lines(read_file(path).value_or(""));
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    if (space != std::string::npos) out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

// A model file's bytes, checked against the SHA-256 that addresses them, or why not.
Result<std::string> checked_model_file(const std::string& path, const std::string& sha256) {
  FP_ASSIGN_OR_RETURN(std::string bytes, read_file(path, "model file"));
  if (sha256_hex(bytes) != sha256)
    return Status::corruption("model file " + path + " holds other bytes than its SHA-256");
  return bytes;
}

// Copies a key pair; the secret key's file readable by its owner only, as keys require.
Status copy_key_pair(const std::string& from, const std::string& to) {
  FP_ASSIGN_OR_RETURN(security::KeyPair pair, security::read_keypair(from));
  FP_RETURN_IF_ERROR(make_parent_folder(to, "key pair"));
  return security::write_keypair(pair, to, /*overwrite=*/true);
}

// Copies the file `from` to `to` through a scratch name, flushed, then renamed: `to` is the
// old file or the whole new one, also after a crash (a database may be gigabytes: not read
// into memory).
Status copy_file_durably(const std::string& from, const std::string& to) {
  const std::string scratch = to + ".restoring";
  std::error_code ec;
  fs::copy_file(from, scratch, fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::io_error("copying " + from + " to " + scratch + ": " + ec.message());
  FP_RETURN_IF_ERROR(sync_to_disk(scratch));
  fs::rename(scratch, to, ec);
  if (ec) return Status::io_error("renaming " + scratch + " to " + to + ": " + ec.message());
  return Status::ok_status();
}

// Moves `path` (and SQLite's side files for a database) to `path` + suffix, if there.
Status move_aside(const std::string& path, const std::string& suffix,
                  std::vector<std::string>& moved) {
  for (const std::string& p : {path, path + "-wal", path + "-shm"}) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(p, ec))) continue;
    fs::rename(p, p + suffix, ec);
    if (ec) return Status::io_error("moving " + p + " aside: " + ec.message());
    moved.push_back(p + suffix);
  }
  return Status::ok_status();
}

struct BackupOptions {
  CommonOptions common;
  std::string folder, key;
  bool without_key = false;
};

int backup(const BackupOptions& o) {
  CoordinatorConfig cfg = config_for(o.common);
  if (!o.key.empty()) cfg.key = o.key;
  std::error_code ec;
  // "" renamed the finished backup to nothing, after all the copying.
  if (o.folder.empty()) fail(Status::invalid_argument("--out is empty: name the backup folder"), 2);
  // Named and not there: a typo whose backups, night after night, restore as a new identity.
  if (!o.without_key && !o.key.empty() && !security::keypair_present(o.key))
    fail(Status::not_found("--key: no key pair at " + o.key +
                           " (.pub, .key): name the coordinator's, or back up --without-key"),
         2);
  if (fs::exists(fs::symlink_status(o.folder, ec)))
    fail(Status::invalid_argument("--out: " + o.folder + " exists (a backup goes to a new folder)"),
         2);
  remove_stopped_backups(o.folder);
  // Built beside its name and renamed at the end: a folder by that name is a whole backup.
  const std::string partial = o.folder + ".partial-" + std::to_string(::getpid());
  if (Status made = make_parent_folder(partial, "backup folder"); !made.ok()) fail(made);
  if (::mkdir(partial.c_str(), 0700) != 0)
    fail(Status::io_error("backup folder " + partial + ": " + std::strerror(errno)));
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code e;
      if (!path.empty()) fs::remove_all(path, e);
    }
  } cleanup{partial};
  const BackupLayout into(partial, cfg);
  if (Status copied = store::Store::copy(cfg.database, into.database); !copied.ok()) fail(copied);

  // Models not backed up, by SHA-256, and why: logged, and kept in missing_models.txt so that
  // a restore knows they are left out.
  std::map<std::string, std::string> missing;
  size_t models = 0, campaigns = 0;
  int64_t rows = 0;
  {
    auto scratch = ScratchFolder::make("fp-backup");  // a migrated copy of an older schema
    if (!scratch.ok()) fail(scratch.status());
    auto opened = store::Store::open_unchanged(into.database, scratch->path());
    if (!opened.ok()) fail(opened.status());
    store::Store& store = **opened;
    ModelRegistry registry(cfg.models_dir, store);
    auto records = store.models();
    if (!records.ok()) fail(records.status());
    for (const auto& m : *records) {
      const std::string copy = into.models + "/" + m.sha256 + ".fpm";
      auto found = registry.find(m.sha256);
      auto bytes = found.ok() ? checked_model_file(found->path, m.sha256)
                              : Result<std::string>(found.status());
      if (!bytes.ok()) {  // gone or damaged at the source: left out, and said so
        missing[m.sha256] = escape_text(bytes.status().message());  // one line in the list
        continue;
      }
      // A copy that cannot be written (a full disk) fails the backup: recorded as left out,
      // it made a backup restore took whole, without the model.
      Status kept = make_parent_folder(copy, "model copy");
      if (kept.ok()) kept = replace_file(copy, *bytes, "model copy");
      if (!kept.ok()) fail(kept);
      ++models;
    }
    campaigns = store.campaigns().value_or({}).size();
    rows = store.telemetry_count().value_or(0);
  }
  std::string keys = "no key pair (--without-key)";
  const bool key_there = fs::exists(security::secret_key_path(cfg.key), ec) ||
                         fs::exists(security::public_key_path(cfg.key), ec);
  if (!o.without_key && !key_there) keys = "no key pair at " + cfg.key + " to back up";
  if (!o.without_key && key_there) {
    if (Status copied = copy_key_pair(cfg.key, into.key); !copied.ok())
      fail(copied.with_context("coordinator key pair: "));
    keys = "key pair keys/" + fs::path(cfg.key).filename().string() +
           ".pub and .key (the secret key: keep the backup where it may be)";
  }
  if (!missing.empty()) {
    std::string lines;
    for (const auto& [sha, why] : missing) lines += sha + " " + why + "\n";
    if (Status kept = replace_file(into.missing, lines, "missing models list"); !kept.ok())
      fail(kept);
  }
  for (const std::string& folder :
       {into.models, fs::path(into.key).parent_path().string(), partial})
    if (fs::exists(folder, ec))
      if (Status synced = sync_to_disk(folder, "backup folder"); !synced.ok()) fail(synced);
  fs::rename(partial, o.folder, ec);
  if (ec) fail(Status::io_error("renaming " + partial + " to " + o.folder + ": " + ec.message()));
  cleanup.path.clear();
  const std::string parent = fs::absolute(o.folder, ec).parent_path().string();
  if (Status synced = sync_to_disk(parent, "folder"); !synced.ok()) fail(synced);

  fmt::print(
      "backup of {} in {}:\n  {} ({} campaign(s), {} telemetry row(s))\n  {} model(s) in "
      "models/\n  {}\n",
      cfg.database, o.folder, fs::path(cfg.database).filename().string(), campaigns, rows, models,
      keys);
  for (const auto& [sha, why] : missing)
    spdlog::error("not in the backup: model {}: {}", sha.substr(0, 12), why);
  return missing.empty() ? 0 : 1;
}

struct RestoreOptions {
  CommonOptions common;
  std::string folder, key;
};

int restore(const RestoreOptions& o) {
  CoordinatorConfig cfg = config_for(o.common);
  if (!o.key.empty()) cfg.key = o.key;
  // The whole backup is checked before anything is replaced.
  std::error_code ec;
  if (!fs::is_directory(o.folder, ec))
    fail(Status::not_found("--from: " + o.folder + " is not a folder"), 2);
  // A backup builds in <name>.partial-<pid> and is renamed when whole: one under that name
  // was stopped (killed, or its machine went down) and was taken when its files happened to
  // be there.
  fs::path named = fs::path(o.folder).lexically_normal();
  if (!named.has_filename()) named = named.parent_path();  // "bk.partial-12/"
  if (std::regex_match(named.filename().string(), std::regex(R"(.+\.partial-[0-9]+)")))
    fail(Status::invalid_argument("--from: " + o.folder +
                                  " is a backup that was stopped before it was whole (a backup "
                                  "is renamed when it is): take a new one"),
         2);
  auto found = layout_found(o.folder, cfg);
  if (!found.ok()) fail(found.status(), 2);
  const BackupLayout from = *found;
  if (Status itself = check_not_restoring_onto_itself(from, cfg); !itself.ok()) fail(itself, 2);
  std::vector<std::pair<std::string, std::string>> models;  // SHA-256, bytes
  // A model the backup itself records as left out is not a damaged backup: restored without
  // it, said so (a campaign on it is served once it is registered again).
  const std::map<std::string, std::string> left_out = recorded_missing(from.missing);
  size_t skipped = 0;
  {
    auto scratch = ScratchFolder::make("fp-restore");  // a migrated copy of an older schema
    if (!scratch.ok()) fail(scratch.status());
    auto opened = store::Store::open_unchanged(from.database, scratch->path());
    if (!opened.ok()) fail(opened.status().with_context("--from: "));
    auto records = (*opened)->models();
    if (!records.ok()) fail(records.status());
    for (const auto& m : *records) {
      // The backup's own copy (a registry over it would take a recorded relative path,
      // which may name the live folder's file).
      auto bytes = checked_model_file(from.models + "/" + m.sha256 + ".fpm", m.sha256);
      if (!bytes.ok() && left_out.count(m.sha256)) {
        spdlog::warn(
            "model {} is not in the backup (when it was made: {}): a campaign on it is served "
            "once it is registered again",
            m.sha256.substr(0, 12), left_out.at(m.sha256));
        ++skipped;
        continue;
      }
      if (!bytes.ok()) fail(bytes.status().with_context("--from: "));
      models.emplace_back(m.sha256, std::move(bytes).value());
    }
  }
  const bool with_keys = fs::exists(security::secret_key_path(from.key), ec);
  if (with_keys) {
    if (auto pair = security::read_keypair(from.key); !pair.ok())
      fail(pair.status().with_context("--from: "));
  }
  if (Status targets = check_restore_targets(cfg, with_keys); !targets.ok()) fail(targets, 2);
  // Not while a coordinator serves the database: held until the restore is done.
  auto lock = store::lock_database(cfg.database, "fp-coordinator restore");
  if (!lock.ok()) fail(lock.status());

  const std::string suffix = aside_suffix(cfg);
  std::vector<std::string> moved;
  for (const std::string& p :
       {cfg.database, security::public_key_path(cfg.key), security::secret_key_path(cfg.key)}) {
    if (p != cfg.database && !with_keys) continue;
    if (Status aside = move_aside(p, suffix, moved); !aside.ok()) fail(aside);
  }
  if (Status made = make_parent_folder(cfg.database, "database"); !made.ok()) fail(made);
  if (Status put = copy_file_durably(from.database, cfg.database); !put.ok()) fail(put);
  for (const auto& [sha, bytes] : models) {
    const std::string path = (fs::path(cfg.models_dir) / (sha + ".fpm")).string();
    if (read_file(path).value_or("") == bytes) continue;  // already there
    if (Status made = make_parent_folder(path, "model file"); !made.ok()) fail(made);
    if (Status put = replace_file(path, bytes, "model file"); !put.ok()) fail(put);
  }
  if (with_keys) {
    if (Status copied = copy_key_pair(from.key, cfg.key); !copied.ok()) fail(copied);
  }
  fmt::print("restored {} from {}: the database, {} model(s){}{}\n", cfg.database, o.folder,
             models.size(),
             skipped ? fmt::format(" ({} left out, as the backup recorded)", skipped) : "",
             with_keys ? ", the key pair " + cfg.key : "");
  if (!with_keys && !cfg.server.security.plain && !security::keypair_present(cfg.key))
    spdlog::warn(
        "the backup holds no key pair and there is none at {}: the first start makes a new "
        "one, which the devices do not know (each needs its .pub as --coordinator-key); put "
        "the old key pair there to keep them",
        cfg.key);
  for (const auto& m : moved) fmt::print("  kept aside: {}\n", m);
  return 0;
}

}  // namespace

void add_backup_commands(CLI::App& app) {
  auto b = std::make_shared<BackupOptions>();
  auto* backup_cmd = app.add_subcommand(
      "backup",
      "Copy the database (consistent while serving), the registered models and the key pair "
      "into a new folder");
  add_common_options(backup_cmd, b->common);
  backup_cmd->add_option("--out", b->folder, "the backup folder to make (must not exist)")
      ->required();
  backup_cmd->add_option("--key", b->key,
                         "the coordinator's key pair, without .pub/.key (default: server.key)");
  backup_cmd->add_flag("--without-key", b->without_key,
                       "leave the key pair out (a restore then keeps the key pair in place)");
  backup_cmd->callback([b] { throw CLI::RuntimeError(backup(*b)); });

  auto r = std::make_shared<RestoreOptions>();
  auto* restore_cmd = app.add_subcommand(
      "restore",
      "Put a backup in the configured places while no coordinator serves (what is there is "
      "kept aside)");
  add_common_options(restore_cmd, r->common);
  restore_cmd->add_option("--from", r->folder, "a folder fp-coordinator backup made")->required();
  restore_cmd->add_option("--key", r->key,
                          "where the key pair goes, without .pub/.key (default: server.key)");
  restore_cmd->callback([r] { throw CLI::RuntimeError(restore(*r)); });
}

}  // namespace fp::coord
