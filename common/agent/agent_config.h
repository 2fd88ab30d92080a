// Settings of one device agent.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "protocol/limits.h"
#include "security/curve.h"

namespace fp::agent {

// A path on the device and what to write instead of it in what leaves the device.
struct LocalPath {
  std::string path;  // as configured; its absolute form is replaced too
  std::string as;    // "<data folder>"
};

struct AgentConfig {
  std::string agent_id;                              // unique per device
  std::string coordinator = "tcp://127.0.0.1:5555";  // the coordinator's ROUTER
  std::string work_dir = "agent-work";               // model cache, personalized models
  std::vector<std::string> datasets;                 // "dataset/individual" it holds
  // Announced in Hello's capabilities only: the Agent sets no thread count or memory limit
  // (fp-agent sets its compute threads itself).
  uint32_t threads = 1;
  uint64_t memory_mb = 0;
  // How long to wait for a Welcome before reconnecting; also the CURVE handshake's
  // interval until the Welcome names the coordinator's.
  std::chrono::milliseconds hello_timeout{3000};
  uint32_t liveness = 3;  // silent coordinator heartbeat intervals before reconnecting
  std::chrono::milliseconds reconnect_min{100}, reconnect_max{5000};
  std::chrono::milliseconds resend_after{2000};  // unacknowledged reports
  int max_download_restarts = 3;  // restarts (failed verifications, bad chunks) before giving up
  // fsync a downloaded model before it is verified and used, so a device that loses
  // power keeps a whole file; simulated agents, whose folders are scratch, skip it.
  bool durable_downloads = true;
  // Keep a task's model download in memory and hand the runner its bytes, with no file
  // under work_dir: for simulated devices, whose folders are scratch deleted when they
  // leave (the download is still hashed and verified; nothing is resumed).
  bool downloads_in_memory = false;
  // General models kept in <work_dir>/models for later tasks: the most recently used this
  // many (0: all), so the cache does not grow with every campaign.
  size_t cached_models = 2;
  int64_t max_tasks = 0;  // leave after this many tasks (0: never)
  // Called on the agent's thread each time the coordinator has acknowledged a task's end,
  // with how many tasks have ended so far (done and failed): a host journals its agents'
  // progress with it.
  std::function<void(int64_t ended)> on_task_closed;
  bool leave_on_goodbye = false;  // exit instead of reconnecting
  // Leave once the coordinator says no task is left on this agent's data (Goodbye with
  // noTaskLeft; asked for in the Hello): a simulated device, whose own count of tasks to do
  // can be one too many after its host was killed, does not then wait for ever.
  bool leave_when_done = false;
  uint32_t protocol_version = proto::kProtocolVersion;  // differs only in tests
  // CURVE with this agent's key pair and the coordinator's public key; plain (no
  // encryption, no authentication) only when set explicitly.
  security::SocketSecurity security;
  // Seeds the privacy noise of reports (0: random per process); simulations fix it.
  uint64_t privacy_seed = 0;
  // Unacknowledged reports are kept here until acknowledged, across restarts ("": in
  // memory only, as simulated agents do).
  std::string outbox_dir;
  // Leave (Status::unavailable) when the coordinator has been unreachable this long
  // (0: keep trying for ever).
  std::chrono::milliseconds give_up_after{0};
  // Written as their placeholders in a failed task's reason, so that it names no folder or
  // file of the device (work_dir is always: "<work folder>").
  std::vector<LocalPath> local_paths;
};

struct AgentStats {
  int64_t tasks_done = 0, tasks_failed = 0;
  int64_t reports_acked = 0, reports_duplicate = 0;
  int64_t chunks_received = 0, bytes_downloaded = 0, download_restarts = 0;
  int64_t connects = 0;
  int64_t connections_taken_over = 0;  // from a ConnectionSlot, without connecting
  int64_t loop_passes = 0;    // wake-ups of the poll loop: what an agent costs while it waits
  bool no_task_left = false;  // left because the coordinator had no task left for it
};

}  // namespace fp::agent
