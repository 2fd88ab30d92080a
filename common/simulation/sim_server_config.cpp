#include "simulation/sim_server_config.h"

#include <algorithm>

namespace fp::sim {

coord::ServerConfig server_config_for(const Scenario& scenario) {
  const HostingSection& h = scenario.hosting;
  coord::ServerConfig sc;
  sc.endpoint = h.endpoint;
  sc.heartbeat_ms = static_cast<uint32_t>(h.heartbeat_ms);
  sc.liveness = static_cast<uint32_t>(h.liveness);
  sc.max_attempts = h.max_attempts;
  // At most half a heartbeat interval: the heartbeats wait with the other replies.
  sc.commit_delay_ms = static_cast<uint32_t>(std::min(h.commit_delay_ms, h.heartbeat_ms / 2));
  sc.exit_when_done = true;
  sc.model_wait_s = 0;  // a run's model file that is gone does not come back: fail, not hang
  sc.security.plain = h.plain;
  sc.max_sessions_per_key = static_cast<uint32_t>(2 * h.connected_per_host() + 4);
  // A host's agents each bind their own id to its key.
  sc.max_ids_per_key = static_cast<uint32_t>(
      std::max<int64_t>(sc.max_ids_per_key, scenario.partition.num_individuals));
  if (h.share_connections) {
    constexpr double kHostRateFactor = 10;
    sc.rate_limit *= kHostRateFactor;
    sc.rate_burst *= kHostRateFactor;
  }
  return sc;
}

}  // namespace fp::sim
