// fp-coordinator dashboard: the web dashboard alone, over the database, until
// SIGINT/SIGTERM; for looking at campaigns after `serve` has stopped.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "coordinator/config.h"
#include "coordinator_commands.h"
#include "dashboard/dashboard.h"

namespace fp::coord {
namespace {

struct DashboardOptions {
  CommonOptions common;
  int64_t http_port = -1;  // -1: server.http_port, else 8080
  std::string http_address;
};

int run_dashboard(const DashboardOptions& o) {
  const CoordinatorConfig cfg = config_for(o.common);
  dash::DashboardConfig dc;
  dc.database = cfg.database;
  dc.address = o.http_address.empty() ? cfg.http_address : o.http_address;
  dc.port = static_cast<uint16_t>(o.http_port >= 0 ? o.http_port
                                  : cfg.http_port  ? cfg.http_port
                                                   : 8080);
  fail_unless_there(cfg);
  // The signals are taken by sigwait below; the server thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto dashboard = dash::Dashboard::start(dc);
  if (!dashboard.ok()) {
    spdlog::error("{}", dashboard.status().to_string());
    return 1;
  }
  spdlog::info("dashboard for {} at {} (Ctrl-C stops it)", dc.database, (*dashboard)->url());
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("stopping the dashboard");
  (*dashboard)->stop();
  return 0;
}

}  // namespace

void add_dashboard_command(CLI::App& app) {
  auto o = std::make_shared<DashboardOptions>();
  auto* cmd = app.add_subcommand(
      "dashboard", "Serve the read-only web dashboard over the database until SIGINT/SIGTERM");
  add_common_options(cmd, o->common);
  cmd->add_option("--http-port", o->http_port,
                  "port (default: server.http_port, else 8080; 0 picks a free one)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-address", o->http_address,
                  "address to listen on (default 127.0.0.1: this machine only)");
  cmd->callback([o] { throw CLI::RuntimeError(run_dashboard(*o)); });
}

}  // namespace fp::coord
