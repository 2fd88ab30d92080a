#include "dashboard/dashboard.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <optional>
#include <utility>

#include "dashboard/http_server.h"
#include "dashboard/routes.h"
#include "report/campaign_results.h"
#include "store/store.h"
#include "store/store_to_read.h"
#include "util/clock.h"

namespace fp::dash {

namespace {

// The file `path` is now: a restore (fp-coordinator restore) puts another file in its place.
std::pair<dev_t, ino_t> file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

}  // namespace

struct Dashboard::State {
  std::string database;
  std::pair<dev_t, ino_t> opened{0, 0};  // the file `store` has open
  // Read-only, as the commands that only read open it: the dashboard alone
  // (fp-coordinator dashboard) over an older fineprune's database migrated the file
  // under the program that wrote it. Used only on the server thread.
  std::optional<store::StoreToRead> store;
  std::unique_ptr<Api> api;  // over `store`, on the server thread
  std::unique_ptr<HttpServer> server;

  Status open() {
    int migrated_from = 0;
    FP_ASSIGN_OR_RETURN(store::StoreToRead fresh,
                        store::open_to_read(database, "fp-dashboard", &migrated_from));
    api = std::make_unique<Api>(*fresh.store);  // before the store it reads goes
    store.reset();                              // ScratchFolder moves but is not assigned
    store.emplace(std::move(fresh));
    opened = file_identity(database);
    if (migrated_from != 0)
      spdlog::warn(
          "dashboard: {} has schema {} of an older fineprune; showing a copy migrated now, "
          "which does not follow later changes (fp-coordinator serve migrates the file)",
          database, migrated_from);
    return Status::ok_status();
  }

  // The Api over the database file at the configured path. A restore moves the file the
  // dashboard has open aside and puts the backup in its place: the dashboard went on
  // showing the set-aside file until it was restarted, with nothing to say so.
  Api& current() {
    const auto identity = file_identity(database);
    if (identity.second == 0 || identity == opened) return *api;  // gone for now, or the same
    if (Status reopened = open(); !reopened.ok()) {
      opened = identity;  // said once; the old file is still served
      spdlog::warn(
          "dashboard: {} was replaced, but cannot be opened ({}); still showing the file "
          "it had open",
          database, reopened.to_string());
      return *api;
    }
    spdlog::info("dashboard: {} was replaced (a restore?): showing the new database", database);
    return *api;
  }
};

Result<std::unique_ptr<Dashboard>> Dashboard::start(const DashboardConfig& config) {
  auto state = std::make_unique<State>();
  state->database = config.database;
  FP_RETURN_IF_ERROR(state->open());
  State* on_server = state.get();
  bool loopback_only = is_loopback_address(config.address);
  FP_ASSIGN_OR_RETURN(state->server,
                      HttpServer::start({config.address, config.port},
                                        [on_server, loopback_only](const HttpRequest& r) {
                                          if (loopback_only && !is_local_host_header(r.host)) {
                                            return forbidden_host(r.host);
                                          }
                                          return route_request(on_server->current(), r, unix_now());
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
