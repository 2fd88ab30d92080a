// check_server_config (coordinator/server.h): the one place that says which serving
// settings can run, for a config file's [server] section and for programs that build a
// ServerConfig themselves (fp-sim, benchmarks, tests).
#include <string>

#include "coordinator/server_config.h"
#include "protocol/endpoint.h"

namespace fp::coord {

Status check_server_config(const ServerConfig& sv) {
  if (Status e = proto::check_endpoint(sv.endpoint, proto::EndpointUse::kBind); !e.ok())
    return Status::invalid_argument("server.endpoint: " + e.message());
  if (sv.heartbeat_ms < 10 || sv.heartbeat_ms > 600000)
    return Status::invalid_argument("server.heartbeat_ms must be in [10, 600000]");
  // Bounded so that heartbeat x liveness (x 2 for idle peers) stays within a clock's range:
  // 999999999 was accepted, and an agent silent for years was still not dropped.
  if (sv.liveness < 1 || sv.liveness > 1000)
    return Status::invalid_argument("server.liveness must be in [1, 1000]");
  if (sv.chunk_size < 1024 || sv.chunk_size > proto::kMaxChunkBytes) {
    return Status::invalid_argument("server.chunk_size must be in [1024, " +
                                    std::to_string(proto::kMaxChunkBytes) + "]");
  }
  if (sv.chunk_credit < 1 || sv.chunk_credit > 256)
    return Status::invalid_argument("server.chunk_credit must be in [1, 256]");
  if (sv.max_queued_bytes < uint64_t{sv.chunk_size} * sv.chunk_credit) {
    return Status::invalid_argument(
        "server.max_queued_bytes must hold at least one agent's chunk_credit x chunk_size");
  }
  if (sv.telemetry_batch < 1)
    return Status::invalid_argument("server.telemetry_batch must be >= 1");
  if (sv.commit_delay_ms > 1000)  // replies wait as long: a second is already slow
    return Status::invalid_argument("server.commit_delay_ms must be in [0, 1000]");
  // Heartbeats wait with the rest: held a whole interval, agents would hear nothing.
  if (sv.commit_delay_ms > 0 && sv.commit_delay_ms >= sv.heartbeat_ms)
    return Status::invalid_argument("server.commit_delay_ms must be below server.heartbeat_ms");
  if (sv.max_attempts < 1) return Status::invalid_argument("server.max_attempts must be >= 1");
  if (sv.max_agents < 1) return Status::invalid_argument("server.max_agents must be >= 1");
  if (!(sv.rate_limit >= 0) || !(sv.rate_burst >= 1)) {
    return Status::invalid_argument(
        "server.rate_limit must be >= 0 (0: unlimited) and server.rate_burst >= 1");
  }
  if (sv.max_sessions_per_key < 1)
    return Status::invalid_argument("server.max_sessions_per_key must be >= 1");
  if (sv.max_ids_per_key < 1)
    return Status::invalid_argument("server.max_ids_per_key must be >= 1");
  // Bounded so that a deadline stays within the clock's range: 1e12 overflowed it, and every
  // task was taken back at its first heartbeat, its reports refused.
  if (!(sv.task_deadline_s > 0 && sv.task_deadline_s <= 2592000) ||
      !(sv.task_deadline_s_per_mb >= 0 && sv.task_deadline_s_per_mb <= 3600)) {
    return Status::invalid_argument(
        "server.task_deadline_s must be in (0, 2592000] (30 days) and "
        "server.task_deadline_s_per_mb in [0, 3600]");
  }
  if (!(sv.last_seen_every_s > 0 && sv.last_seen_every_s <= 86400))
    return Status::invalid_argument("server.last_seen_every_s must be in (0, 86400] (a day)");
  if (!(sv.model_wait_s >= 0 && sv.model_wait_s <= 604800))
    return Status::invalid_argument("server.model_wait_s must be in [0, 604800] (a week)");
  if (sv.events_kept < 0)
    return Status::invalid_argument("server.events_kept must be >= 0 (0: keep every event)");
  return Status::ok_status();
}

}  // namespace fp::coord
