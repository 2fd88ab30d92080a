// fp-coordinator keygen / enroll / revoke: the coordinator's CURVE key pair and the
// list of agent public keys its ZAP handler admits (kept in the database).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "coordinator/campaign_setup.h"
#include "coordinator/config.h"
#include "coordinator_commands.h"
#include "security/keys.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "util/clock.h"

namespace fp::coord {
namespace {

// The configured database, or --db; `must_exist` where there is nothing to do in a new one.
std::unique_ptr<store::Store> open_store(const CommonOptions& common, bool must_exist = false) {
  return open_database(config_for(common), must_exist);
}

// A pair replaced under a coordinator serving with it: the agents given the new .pub fail
// their handshake with it, and at its next start every agent with the old one is locked out.
Status check_not_served_with(const CoordinatorConfig& cfg, const std::string& key) {
  std::error_code ec1, ec2;
  const auto served = std::filesystem::weakly_canonical(security::secret_key_path(cfg.key), ec1);
  const auto replaced = std::filesystem::weakly_canonical(security::secret_key_path(key), ec2);
  if (ec1 || ec2 || served != replaced) return Status::ok_status();
  if (store::database_in_use(cfg.database) != true) return Status::ok_status();
  return Status::unavailable("key pair " + key + " is in use: a coordinator serves " +
                             cfg.database + " with it (" +
                             store::database_holder(cfg.database).value_or("it has not said who") +
                             "); stop it first, then give every agent the new public key");
}

void keygen(const CommonOptions& common, std::string key, bool force) {
  const CoordinatorConfig cfg = config_for(common);
  if (key.empty()) key = cfg.key;
  if (force) {
    if (Status served = check_not_served_with(cfg, key); !served.ok()) {
      spdlog::error("{}", served.to_string());
      throw CLI::RuntimeError(1);
    }
  }
  auto pair = security::generate_keypair();
  Status written = pair.ok() ? security::write_keypair(*pair, key, force) : pair.status();
  if (!written.ok()) {
    spdlog::error("{}", written.to_string());
    throw CLI::RuntimeError(1);
  }
  fmt::print("wrote {} (give it to every agent) and {} (secret, mode 0600)\n{}\n",
             security::public_key_path(key), security::secret_key_path(key), pair->public_key);
}

void enroll(const CommonOptions& common, const std::string& key_file, std::string name) {
  auto key = security::read_public_key(key_file);
  if (!key.ok()) {
    spdlog::error("{}", key.status().to_string());
    throw CLI::RuntimeError(2);
  }
  if (name.empty()) name = std::filesystem::path(key_file).stem().string();
  // Its own key given by mistake for a device's (both are .pub files in a keys folder).
  const std::string own_path = security::public_key_path(config_for(common).key);
  if (auto own = security::read_public_key(own_path); own.ok() && *own == *key) {
    spdlog::error(
        "{} is this coordinator's own public key ({}): enroll the .pub file a device made "
        "with 'fp-agent keygen'",
        key_file, own_path);
    throw CLI::RuntimeError(2);
  }
  // Enrolling before the first train or serve makes the database; run from another folder
  // than the coordinator's (relative paths), it made a second one the coordinator never reads.
  const std::string database = config_for(common).database;
  const bool made = !std::filesystem::exists(database);
  auto store = open_store(common);
  if (made)
    spdlog::warn(
        "there was no database {}: made a new one ({}) for this key. If the coordinator serves "
        "another one, it will not know the key: run enroll where it runs (its configuration's "
        "relative paths are relative to the working folder) or give --db",
        database, std::filesystem::absolute(database).string());
  auto enrolled = store->agent_keys();
  if (!enrolled.ok()) {
    spdlog::error("{}", enrolled.status().to_string());
    throw CLI::RuntimeError(1);
  }
  // A name is how `revoke --name` finds a device: two keys under one would be revoked
  // together. The same key enrolled again keeps working under its new name.
  std::string was;
  for (const auto& k : *enrolled) {
    if (k.public_key == *key) was = k.name;
    if (k.name == name && k.public_key != *key && !k.revoked_at) {
      spdlog::error(
          "the name {} is enrolled for another key ({}): revoke it first (fp-coordinator revoke "
          "--name {}) or give this key another --name",
          name, k.public_key, name);
      throw CLI::RuntimeError(1);
    }
  }
  Status s = store->enroll_key(*key, name, unix_now());
  if (!s.ok()) {
    spdlog::error("{}", s.to_string());
    throw CLI::RuntimeError(1);
  }
  fmt::print("enrolled {} as {}{}\n", *key, name,
             !was.empty() && was != name ? " (was " + was + ")" : "");
}

void revoke(const CommonOptions& common, const std::string& key_file, const std::string& name) {
  std::string which = name;
  if (!key_file.empty()) {
    auto key = security::read_public_key(key_file);
    if (!key.ok()) {
      spdlog::error("{}", key.status().to_string());
      throw CLI::RuntimeError(2);
    }
    which = *key;
  }
  auto store = open_store(common, /*must_exist=*/true);
  auto n = store->revoke_key(which, unix_now());
  if (!n.ok()) {
    spdlog::error("{}", n.status().to_string());
    throw CLI::RuntimeError(1);
  }
  if (*n == 0) {
    spdlog::error("no enrolled, unrevoked key matches {}", which);
    throw CLI::RuntimeError(1);
  }
  fmt::print("revoked {} key(s) matching {}; agents using it are dropped within one heartbeat\n",
             *n, which);
}

void list_keys(const CommonOptions& common) {
  auto store = open_store(common, /*must_exist=*/true);
  auto keys = store->agent_keys();
  if (!keys.ok()) {
    spdlog::error("{}", keys.status().to_string());
    throw CLI::RuntimeError(1);
  }
  for (const auto& k : *keys) {
    fmt::print("{}  {:<24} {}\n", k.public_key, k.name, k.revoked_at ? "revoked" : "enrolled");
  }
}

}  // namespace

void add_key_commands(CLI::App& app) {
  {
    auto common = std::make_shared<CommonOptions>();
    auto key = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand("keygen", "Create the coordinator's CURVE key pair");
    add_common_options(cmd, *common);
    cmd->add_option("--key", *key,
                    "key pair path without .pub/.key (default: server.key, keys/coordinator)");
    cmd->add_flag("--force", *force, "overwrite an existing key pair (locks agents out)");
    cmd->callback([=] { keygen(*common, *key, *force); });
  }
  {
    auto common = std::make_shared<CommonOptions>();
    auto key = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto list = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand(
        "enroll", "Allow an agent's CURVE public key to connect (from 'fp-agent keygen')");
    add_common_options(cmd, *common);
    cmd->add_option("--key", *key, "the agent's public key file (AGENT.pub)");
    cmd->add_option("--name", *name, "a name for it (default: the file name)");
    cmd->add_flag("--list", *list, "list enrolled and revoked keys instead");
    cmd->callback([=] {
      if (*list) return list_keys(*common);
      if (key->empty()) throw CLI::ValidationError("--key", "required unless --list");
      enroll(*common, *key, *name);
    });
  }
  {
    auto common = std::make_shared<CommonOptions>();
    auto key = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("revoke", "Stop admitting an enrolled agent key");
    add_common_options(cmd, *common);
    auto* k = cmd->add_option("--key", *key, "the agent's public key file");
    auto* n = cmd->add_option("--name", *name, "the name it was enrolled under");
    k->excludes(n);
    cmd->callback([=] {
      if (key->empty() && name->empty()) throw CLI::ValidationError("--key or --name required");
      revoke(*common, *key, *name);
    });
  }
}

}  // namespace fp::coord
