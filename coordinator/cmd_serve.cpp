// fp-coordinator serve: set up the configured campaign and serve agents.
#include <spdlog/spdlog.h>

#include <fstream>

#include "campaign_setup.h"
#include "commands.h"

namespace fp::coord {
namespace {

struct ServeOptions {
  CommonOptions common;
  std::string endpoint, endpoint_file;
  uint32_t heartbeat_ms = 0;
  bool exit_when_done = false;
};

int serve(const ServeOptions& o) {
  auto loaded = load_config(o.common.config);
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().to_string());
    return 2;
  }
  CoordinatorConfig cfg = std::move(loaded).value();
  if (!o.common.database.empty()) cfg.database = o.common.database;
  if (!o.common.models_dir.empty()) cfg.models_dir = o.common.models_dir;
  if (!o.endpoint.empty()) cfg.server.endpoint = o.endpoint;
  if (o.heartbeat_ms) cfg.server.heartbeat_ms = o.heartbeat_ms;
  cfg.server.exit_when_done = o.exit_when_done;
  cfg.server.handle_signals = true;

  auto store = store::Store::open(cfg.database);
  if (!store.ok()) {
    spdlog::error("{}", store.status().to_string());
    return 1;
  }
  ModelRegistry registry(cfg.models_dir, **store);
  if (cfg.campaign.present) {
    auto id = ensure_campaign(registry, **store, cfg.campaign, unix_now());
    if (!id.ok()) {
      spdlog::error("campaign '{}': {}", cfg.campaign.name, id.status().to_string());
      return 1;
    }
  }
  zmq::context_t context(1);
  Server server(cfg.server, context, **store, registry);
  Status bound = server.bind();
  if (!bound.ok()) {
    spdlog::error("{}", bound.to_string());
    return 1;
  }
  if (!o.endpoint_file.empty()) {
    // Written whole, then renamed, so a reader never sees half an endpoint.
    std::string tmp = o.endpoint_file + ".tmp";
    std::ofstream(tmp) << server.bound_endpoint() << "\n";
    std::rename(tmp.c_str(), o.endpoint_file.c_str());
  }
  Status s = server.run();
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
      "serve", "Serve the configured campaign to device agents until SIGINT/SIGTERM");
  add_common_options(cmd, o->common);
  cmd->add_option("--endpoint", o->endpoint,
                  "ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5555 or ipc:///tmp/fp.sock "
                  "('*' as the port picks a free one)");
  cmd->add_option("--endpoint-file", o->endpoint_file,
                  "write the bound endpoint to this file once listening");
  cmd->add_option("--heartbeat-ms", o->heartbeat_ms, "heartbeat interval (default 1000)");
  cmd->add_flag("--exit-when-done", o->exit_when_done, "stop once every campaign has finished");
  cmd->callback([o] { throw CLI::RuntimeError(serve(*o)); });
}

}  // namespace fp::coord
