// fp-coordinator serve --check: what a start would do with a configuration, found without
// doing it. The database is read, never written (a copy when its schema must be migrated);
// no campaign is made, no artifact registered, no key pair written; the endpoint and the
// dashboard's port are bound and released at once.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "coordinator/bind_check.h"
#include "coordinator/campaign_setup.h"
#include "coordinator/server.h"
#include "coordinator_commands.h"
#include "dashboard/http_server.h"
#include "dashboard/routes.h"
#include "protocol/endpoint.h"
#include "security/keys.h"
#include "store/migrations.h"
#include "store/serve_lock.h"
#include "util/file_io.h"
#include "util/scratch_folder.h"

namespace fp::coord {
namespace {
namespace fs = std::filesystem;

// The key pair a start would use: read when there; otherwise made then, so its folder
// must be writable. `pair` receives the pair read, or a throwaway one to bind with.
Result<std::string> check_key_pair(const std::string& base, security::KeyPair& pair) {
  FP_RETURN_IF_ERROR(security::check_key_pair_path(base));
  if (security::keypair_present(base)) {
    FP_ASSIGN_OR_RETURN(pair, security::read_keypair(base));
    return "CURVE, key pair " + base + " read";
  }
  std::error_code ec;
  fs::path folder = fs::absolute(security::secret_key_path(base), ec).parent_path();
  while (!folder.empty() && !fs::exists(folder, ec) && folder != folder.parent_path())
    folder = folder.parent_path();
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    return Status::io_error("the key pair " + base + " cannot be made at the start: " +
                            folder.string() + " is not writable (" + std::strerror(errno) + ")");
  FP_ASSIGN_OR_RETURN(pair, security::generate_keypair());
  return "CURVE, key pair " + base + " made at the first start";
}

// What the database holds for a start: `store` opened unchanged (or an empty one for a
// database the start creates), and a few words on it.
Result<std::string> open_for_check(const std::string& database, const std::string& scratch,
                                   std::unique_ptr<store::Store>& store) {
  std::error_code ec;
  if (!fs::exists(database, ec)) {
    FP_RETURN_IF_ERROR(check_can_make(database, "database"));
    FP_ASSIGN_OR_RETURN(store, store::Store::open(":memory:"));
    return "database " + database + " made at the first start";
  }
  int migrated_from = 0;
  FP_ASSIGN_OR_RETURN(store, store::Store::open_unchanged(database, scratch, &migrated_from));
  if (migrated_from == 0) return "database " + database;
  return fmt::format(
      "database {} (schema {}: the start migrates it to {}, and older fineprune programs "
      "refuse it then)",
      database, migrated_from, store::latest_schema_version());
}

// The configured campaign, or the running ones a start without [campaign] serves.
Result<std::string> check_campaigns(ModelRegistry& registry, store::Store& store,
                                    const CoordinatorConfig& cfg) {
  const CampaignSection& campaign = cfg.campaign;
  if (cfg.server.exit_when_done)
    FP_RETURN_IF_ERROR(check_exit_when_done(store, cfg.database, campaign.present));
  std::string words;
  if (campaign.present) {
    FP_ASSIGN_OR_RETURN(words, plan_campaign(registry, store, campaign));
  }
  FP_RETURN_IF_ERROR(
      check_served_campaigns(registry, store, campaign.present ? campaign.name : ""));
  if (campaign.present) return words;
  FP_ASSIGN_OR_RETURN(auto campaigns, store.campaigns());
  int running = 0;
  for (const auto& c : campaigns) running += c.status != "done";
  return fmt::format("no [campaign]: the database's {} unfinished campaign(s) served", running);
}

// Binds what a start binds, with the start's own code, and releases it.
Result<std::string> check_listening(const CoordinatorConfig& cfg, store::Store& store,
                                    ModelRegistry& registry) {
  const bool dashboard = cfg.http_port > 0;
  FP_RETURN_IF_ERROR(check_server_bind(cfg.server, store, registry, [&] {
    return dashboard ? dash::HttpServer::check_bindable(
                           {cfg.http_address, static_cast<uint16_t>(cfg.http_port)})
                     : Status::ok_status();
  }));
  if (!dashboard) return std::string("no dashboard");
  if (!dash::is_loopback_address(cfg.http_address))
    spdlog::warn(
        "dashboard on {} without authentication: anyone who can reach port {} reads "
        "every campaign's results (docs/DASHBOARD.md)",
        cfg.http_address, cfg.http_port);
  return fmt::format("dashboard on {}:{}", cfg.http_address, cfg.http_port);
}

Status check_serving_status(CoordinatorConfig cfg, std::string& ready) {
  if (Status e = proto::check_program_endpoint(cfg.server.endpoint, proto::EndpointUse::kBind);
      !e.ok())
    return Status::invalid_argument("server.endpoint: " + e.message());
  // Not an error: the check of a running coordinator's configuration finds it there.
  const bool served = store::database_in_use(cfg.database).value_or(false);
  if (served)
    spdlog::warn(
        "database {} is served by a running coordinator now: a second start would be refused "
        "until it ends (its endpoint and dashboard port are not tried)",
        cfg.database);
  FP_ASSIGN_OR_RETURN(ScratchFolder scratch, ScratchFolder::make("fp-serve-check"));
  std::unique_ptr<store::Store> store;
  FP_ASSIGN_OR_RETURN(std::string database, open_for_check(cfg.database, scratch.path(), store));
  FP_RETURN_IF_ERROR(check_models_folder(cfg));
  ModelRegistry registry(cfg.models_dir, *store);
  FP_ASSIGN_OR_RETURN(std::string campaigns, check_campaigns(registry, *store, cfg));
  std::string security = "plain: no encryption, no authentication";
  if (!cfg.server.security.plain) {
    auto keys = check_key_pair(cfg.key, cfg.server.security.own);
    if (!keys.ok()) return keys.status().with_context("coordinator key pair: ");
    security = *keys;
  }
  reserve_descriptors(cfg.server.max_agents, cfg.http_port > 0);
  std::string listening = "endpoint and dashboard held by the running coordinator";
  if (!served) {
    FP_ASSIGN_OR_RETURN(listening, check_listening(cfg, *store, registry));
  }
  ready = fmt::format("ready: coordinator on {} ({})\n  {}\n  {}\n  {}", cfg.server.endpoint,
                      security, database, campaigns, listening);
  return Status::ok_status();
}

}  // namespace

int check_serving(const CoordinatorConfig& config) {
  std::string ready;
  if (Status s = check_serving_status(config, ready); !s.ok()) {
    spdlog::error("{}", s.to_string());
    return 2;
  }
  fmt::print("{}\n", ready);
  return 0;
}

}  // namespace fp::coord
