#include "simulation/sim_server_config.h"

namespace fp::sim {

coord::ServerConfig server_config_for(const Scenario& scenario) {
  const HostingSection& h = scenario.hosting;
  coord::ServerConfig sc;
  sc.endpoint = h.endpoint;
  sc.heartbeat_ms = static_cast<uint32_t>(h.heartbeat_ms);
  sc.liveness = static_cast<uint32_t>(h.liveness);
  sc.max_attempts = h.max_attempts;
  sc.exit_when_done = true;
  sc.security.plain = h.plain;
  sc.max_sessions_per_key = static_cast<uint32_t>(2 * h.connected_per_host() + 4);
  if (h.share_connections) {
    constexpr double kHostRateFactor = 10;
    sc.rate_limit *= kHostRateFactor;
    sc.rate_burst *= kHostRateFactor;
  }
  return sc;
}

}  // namespace fp::sim
