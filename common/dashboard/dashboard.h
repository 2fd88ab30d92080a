// The coordinator's web dashboard: an HttpServer (http_server.h) answering with
// route_request (routes.h) over its own connection to the SQLite store. The
// coordinator keeps writing through its connection; WAL lets this one read beside it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "util/status.h"

namespace fp::dash {

struct DashboardConfig {
  std::string database;               // the coordinator's SQLite file
  std::string address = "127.0.0.1";  // loopback unless configured otherwise
  uint16_t port = 8080;               // 0: the system picks a free port
};

class HttpServer;

class Dashboard {
 public:
  // Opens the store and starts serving; fails if the port cannot be bound.
  static Result<std::unique_ptr<Dashboard>> start(const DashboardConfig& config);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  uint16_t port() const;
  std::string url() const;  // "http://127.0.0.1:8080/"
  void stop();              // idempotent; also done by the destructor

  struct State;

 private:
  Dashboard(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace fp::dash
