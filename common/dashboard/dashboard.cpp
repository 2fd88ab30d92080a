#include "dashboard/dashboard.h"

#include <spdlog/spdlog.h>

#include "dashboard/http_server.h"
#include "dashboard/routes.h"
#include "report/campaign_results.h"
#include "store/store.h"
#include "util/clock.h"

namespace fp::dash {

struct Dashboard::State {
  std::unique_ptr<store::Store> store;  // used only on the server thread
  std::unique_ptr<Api> api;             // over `store`, on the server thread
  std::unique_ptr<HttpServer> server;
};

Result<std::unique_ptr<Dashboard>> Dashboard::start(const DashboardConfig& config) {
  auto state = std::make_unique<State>();
  FP_ASSIGN_OR_RETURN(state->store, store::Store::open(config.database));
  state->api = std::make_unique<Api>(*state->store);
  Api* api = state->api.get();
  bool loopback_only = is_loopback_address(config.address);
  FP_ASSIGN_OR_RETURN(
      state->server,
      HttpServer::start({config.address, config.port}, [api, loopback_only](const HttpRequest& r) {
        if (loopback_only && !is_local_host_header(r.host)) {
          return forbidden_host(r.host);
        }
        return route_request(*api, r, unix_now());
      }));
  // It has no authentication: beyond this machine, every campaign's per-individual results
  // are open to whoever reaches the port (docs/DASHBOARD.md).
  if (!loopback_only)
    spdlog::warn(
        "dashboard on {} without authentication: anyone who can reach port {} reads "
        "every campaign's results; bind it to 127.0.0.1 unless the network is trusted",
        config.address, state->server->port());
  return std::unique_ptr<Dashboard>(new Dashboard(std::move(state)));
}

Dashboard::Dashboard(std::unique_ptr<State> state) : state_(std::move(state)) {}

Dashboard::~Dashboard() { stop(); }

uint16_t Dashboard::port() const { return state_->server->port(); }

std::string Dashboard::url() const {
  std::string host = state_->server->address();
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
  return "http://" + host + ":" + std::to_string(port()) + "/";
}

void Dashboard::stop() { state_->server->stop(); }

}  // namespace fp::dash
