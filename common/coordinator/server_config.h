// ServerConfig: the coordinator's serving settings ([server] in fp-coordinator's config
// file), apart from the Server, so that what reads or checks them need not include the
// serving loop (ZeroMQ, the store, CURVE's handler).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "protocol/limits.h"
#include "security/curve.h"
#include "util/status.h"

namespace fp::coord {

class CampaignPolicy;  // coordinator/campaign_policy.h

struct ServerConfig {
  std::string endpoint = "tcp://127.0.0.1:5555";  // "tcp://127.0.0.1:*" picks a free port
  uint32_t heartbeat_ms = 1000;
  uint32_t liveness = 3;  // silent heartbeat intervals before an agent is dropped
  uint32_t chunk_size = proto::kDefaultChunkBytes;
  uint32_t chunk_credit = proto::kDefaultChunkCredit;
  size_t telemetry_batch = 4096;  // most reports per transaction
  // Group commit: a burst whose writes the loop commits itself (assignments, task ends,
  // joins) waits up to this long for more messages to commit with, its replies held as
  // long. Each commit writes every page it changed (the tasks table's and its indexes', the
  // WAL's): at thousands of agents a few milliseconds' wait shares those writes among
  // several agents' messages. 0: commit every loop iteration.
  uint32_t commit_delay_ms = 0;
  int64_t max_attempts = 3;  // assignments of one task before it is failed
  // Which tasks exist, who gets which, what happens on failure (coordinator/
  // campaign_policy.h). Null: FirstPendingPolicy(max_attempts).
  std::shared_ptr<CampaignPolicy> policy;
  // SIGINT/SIGTERM/SIGHUP stop the loop (programs only, which block them in every thread
  // first: util/stop_signals.h).
  bool handle_signals = false;
  bool exit_when_done = false;  // stop once every campaign is finished
  // CURVE with the coordinator's key pair and a ZAP handler that admits enrolled keys
  // only; plain (no encryption, no authentication) only when set explicitly.
  security::SocketSecurity security;
  // Limits: agents connected at once, and each peer's message rate (token bucket;
  // rate 0: unlimited). Excess is refused with an Error (limitExceeded) naming why.
  uint32_t max_agents = 10000;
  double rate_limit = 2000;  // messages per second, per peer
  double rate_burst = 4000;  // messages at once, per peer
  // Identity (CURVE): sessions one enrolled key may hold at once (fp-sim: a host's agents).
  uint32_t max_sessions_per_key = 16;
  // Identity (CURVE): agent ids one key may bind, ever (a device has one; fp-sim: its
  // host's agents), and individuals its Hellos may add to open-enrollment campaigns while
  // this coordinator runs: a hostile device cannot grow the database without bound.
  uint32_t max_ids_per_key = 64;
  uint32_t max_individuals_per_key = 64;
  // Outbound memory: model bytes queued for all peers together (each peer also gets at
  // most chunk_credit chunks), and how long a peer may leave its chunks unread.
  uint64_t max_queued_bytes = uint64_t{256} << 20;
  uint32_t stall_timeout_ms = 30000;
  // A task still held after task_deadline_s + task_deadline_s_per_mb x model MiB goes
  // back to the queue, even if its agent keeps heartbeating.
  double task_deadline_s = 3600;
  double task_deadline_s_per_mb = 60;
  // A campaign's model file missing or damaged on the coordinator (a disk remounted, a file
  // being restored): its tasks stay pending, their agents idle, this long from the first
  // time it was seen so before they are failed for good; 0 fails them at once (fp-sim: a
  // run's own file does not come back).
  double model_wait_s = 600;
  // An online agent's last_seen in the database is brought up to date this often (at a
  // tick, all due agents in one write), so status and the dashboard show when it was last
  // heard rather than when it joined.
  double last_seen_every_s = 60;
  // The events table (joins, leaves, assignments, failures: what status and the dashboard
  // list) keeps the newest this many, ~100 B each; the oldest go as new ones come (0: all).
  // Telemetry, tasks and agents are never removed.
  int64_t events_kept = 1000000;
};

// OK when the settings can run; otherwise the first one out of range, named by its config
// key ("server.chunk_size must be in [1024, ...]"). Server::bind() refuses settings that
// fail it; a config file's [server] section is checked with it when it is read.
Status check_server_config(const ServerConfig& config);

}  // namespace fp::coord
