// fp-coordinator serve: set up the configured campaign and serve agents.
#include <spdlog/spdlog.h>

#include <optional>

#include "config/cli_checks.h"
#include "coordinator/campaign_setup.h"
#include "coordinator/server.h"
#include "coordinator_commands.h"
#include "dashboard/dashboard.h"
#include "dashboard/http_server.h"
#include "protocol/endpoint.h"
#include "security/keys.h"
#include "store/serve_lock.h"
#include "util/clock.h"
#include "util/descriptor_limit.h"
#include "util/file_io.h"
#include "util/stop_signals.h"

namespace fp::coord {

// The descriptor budget (docs/SECURITY.md): agents (one ZeroMQ connection each), the
// dashboard (at most HttpServerConfig::max_connections + its listener) and about 64 for
// the store, model files and ZeroMQ's own. The soft limit is raised to the hard one; a
// hard limit too small for max_agents is said at start, not found out under load.
void reserve_descriptors(uint32_t max_agents, bool dashboard) {
  const uint64_t limit = raise_descriptor_limit();
  if (limit == 0) return;
  const uint64_t http = dashboard ? dash::HttpServerConfig{}.max_connections + 1 : 0;
  const uint64_t needed = uint64_t{max_agents} + http + 64;
  if (limit < needed) {
    spdlog::warn(
        "file descriptor limit {} is below server.max_agents ({}) + dashboard ({}) + 64: agents "
        "beyond about {} cannot connect (raise `ulimit -n` or lower server.max_agents)",
        limit, max_agents, http, limit > http + 64 ? limit - http - 64 : 0);
  }
}

namespace {

struct ServeOptions {
  CommonOptions common;
  std::string endpoint, endpoint_file;
  uint32_t heartbeat_ms = 0;
  bool exit_when_done = false;
  bool check = false;
  int64_t http_port = -1;  // -1: as configured
  std::string http_address;
  std::string key;
  bool plain = false;
  uint32_t max_agents = 0;
};

int serve(const ServeOptions& o) {
  // Before any thread is made: the signals then reach only the server's waker, and one that
  // comes during the start or the shutdown stops it cleanly or waits, never kills it.
  block_stop_signals();
  CoordinatorConfig cfg = config_for(o.common);
  if (!o.endpoint.empty()) cfg.server.endpoint = o.endpoint;
  if (o.heartbeat_ms) cfg.server.heartbeat_ms = o.heartbeat_ms;
  cfg.server.exit_when_done = o.exit_when_done;
  cfg.server.handle_signals = true;
  if (o.http_port >= 0) cfg.http_port = o.http_port;
  if (!o.http_address.empty()) cfg.http_address = o.http_address;
  if (!o.key.empty()) cfg.key = o.key;
  if (o.plain) cfg.server.security.plain = true;
  if (o.plain && !o.key.empty())  // it was ignored without a word
    spdlog::warn("--key {} is not used: --plain serves without encryption or keys", o.key);
  if (o.max_agents) cfg.server.max_agents = o.max_agents;
  if (o.check) return check_serving(cfg);
  if (!o.endpoint_file.empty()) {
    // Checked before the start: written once serving, it replaced the database (or a model)
    // when named so, under a running coordinator.
    if (Status target = check_later_output(o.endpoint_file, "--endpoint-file", {o.common.config});
        !target.ok()) {
      spdlog::error("{}", target.to_string());
      return 2;
    }
  }
  if (Status e = proto::check_program_endpoint(cfg.server.endpoint, proto::EndpointUse::kBind);
      !e.ok()) {
    spdlog::error("server.endpoint: {}", e.to_string());
    return 2;
  }
  // As serve --check does: a file as the models folder started a coordinator whose every
  // model download would fail.
  if (Status folder = check_models_folder(cfg); !folder.ok()) {
    spdlog::error("{}", folder.to_string());
    return 2;
  }
  // Before the database is read: another coordinator serving it is refused, not joined.
  auto lock = store::lock_database(cfg.database, kServeHolder);
  if (!lock.ok()) {
    spdlog::error("{}", lock.status().to_string());
    return 1;
  }
  auto store = open_database(cfg);
  ModelRegistry registry(cfg.models_dir, *store);
  // What a start stores or writes (the campaign, which may supersede others, and a new key
  // pair) waits until the endpoint and the dashboard are bound: a start refused there (a
  // port in use) leaves the database and the key folder as they were.
  std::optional<security::KeyPair> made_keys;
  if (!cfg.server.security.plain) {
    if (Status path = security::check_key_pair_path(cfg.key); !path.ok()) {
      spdlog::error("coordinator key pair: {}", path.to_string());
      return 2;
    }
    auto keys = security::keypair_present(cfg.key) ? security::read_keypair(cfg.key)
                                                   : security::generate_keypair();
    if (!keys.ok()) {
      spdlog::error("coordinator key pair: {}", keys.status().to_string());
      return 2;
    }
    if (!security::keypair_present(cfg.key)) made_keys = *keys;
    cfg.server.security.own = *keys;
  }
  reserve_descriptors(cfg.server.max_agents, cfg.http_port > 0);
  zmq::context_t context(1);
  Server server(cfg.server, context, *store, registry);
  Status bound = server.bind();
  if (!bound.ok()) {
    spdlog::error("{}", bound.to_string());
    return 1;
  }
  std::unique_ptr<dash::Dashboard> dashboard;  // stops when serving ends
  if (cfg.http_port > 0) {
    auto started = dash::Dashboard::start(
        {cfg.database, cfg.http_address, static_cast<uint16_t>(cfg.http_port)});
    if (!started.ok()) {
      spdlog::error("{}", started.status().to_string());
      return 1;
    }
    dashboard = std::move(started).value();
    spdlog::info("dashboard at {}", dashboard->url());
  }
  if (cfg.campaign.present) {
    auto id = ensure_campaign(registry, *store, cfg.campaign, unix_now());
    if (!id.ok()) {
      spdlog::error("{}", id.status().to_string());
      // A [campaign] that contradicts the stored one of its name is the configuration's
      // mistake, as serve --check says; a store or model problem is a refused start.
      return id.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
    }
  }
  Status servable =
      check_served_campaigns(registry, *store, cfg.campaign.present ? cfg.campaign.name : "");
  if (!servable.ok()) {
    spdlog::error("{}", servable.to_string());
    return 1;
  }
  if (cfg.server.exit_when_done) {
    if (Status s = check_exit_when_done(*store, cfg.database, cfg.campaign.present); !s.ok()) {
      spdlog::error("{}", s.to_string());
      return 2;
    }
  }
  if (made_keys) {
    if (Status written = security::write_keypair(*made_keys, cfg.key); !written.ok()) {
      spdlog::error("coordinator key pair: {}", written.to_string());
      return 2;
    }
    spdlog::info("created the coordinator key pair {} / {}; give {} to the agents",
                 security::public_key_path(cfg.key), security::secret_key_path(cfg.key),
                 security::public_key_path(cfg.key));
  }
  // Written once the server handles SIGTERM: a supervisor that reads it and stops the
  // coordinator at once gets a clean stop, not a process killed in its start.
  auto write_endpoint = [&]() -> Status {
    if (o.endpoint_file.empty()) return Status::ok_status();
    // A file replaced whole, so a reader never sees half an endpoint; a device (/dev/stdout)
    // written as it is: a scratch file renamed over /dev/full replaced the device itself.
    return write_output(o.endpoint_file, server.bound_endpoint() + "\n", "--endpoint-file");
  };
  Status s = server.run(write_endpoint);
  if (!s.ok()) {
    spdlog::error("coordinator failed: {}", s.to_string());
    return 1;
  }
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand(
      "serve", "Serve the configured campaign to device agents until SIGINT/SIGTERM/SIGHUP");
  add_common_options(cmd, o->common);
  cmd->add_option("--endpoint", o->endpoint,
                  "ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5555 or ipc:///tmp/fp.sock "
                  "('*' as the port picks a free one)");
  auto* endpoint_file = cmd->add_option("--endpoint-file", o->endpoint_file,
                                        "write the bound endpoint to this file once listening");
  cmd->add_option("--heartbeat-ms", o->heartbeat_ms, "heartbeat interval (default 1000)")
      ->check(fp::config::at_least(10));
  cmd->add_flag("--exit-when-done", o->exit_when_done, "stop once every campaign has finished");
  cmd->add_flag("--check", o->check,
                "check the configuration, database, campaign, keys, endpoint and dashboard port "
                "as a start would, say what it would serve, and exit (0 ready, 2 not) without "
                "changing anything")
      ->excludes(endpoint_file);  // a check keeps no endpoint to write
  cmd->add_option("--key", o->key,
                  "CURVE key pair path without .pub/.key, created if missing (default: "
                  "server.key, keys/coordinator)");
  cmd->add_flag("--plain", o->plain,
                "serve without encryption or authentication (local tests and simulations only)");
  cmd->add_option("--max-agents", o->max_agents,
                  "most agents connected at once (server.max_agents)")
      ->check(fp::config::at_least(1));
  cmd->add_option("--http-port", o->http_port,
                  "serve the web dashboard on this port (0: none; default: server.http_port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-address", o->http_address,
                  "address the dashboard listens on (default 127.0.0.1: this machine only)");
  cmd->callback([o] { throw CLI::RuntimeError(serve(*o)); });
}

}  // namespace fp::coord
