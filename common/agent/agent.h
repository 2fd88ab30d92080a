// A device agent: connects to the coordinator (DEALER), says Hello, heartbeats,
// downloads and verifies the assigned model, runs the task through a TaskRunner on
// a worker thread, and reports telemetry until each report is acknowledged. It
// reconnects with backoff when the coordinator goes silent or away.
//
// Only Hello, Heartbeat, ChunkRequest, TelemetryReport, TaskStatus, TaskResult, Error
// and Goodbye ever leave an agent: private data stay with the runner.
//
// One Agent is one device. A process may host many (each run() on its own thread,
// sharing one zmq::context_t): that is how the simulation host runs virtual agents, and
// agents run one after another may take turns on one connection (share_connections).
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "agent/agent_config.h"
#include "agent/connection_slot.h"
#include "agent/model_download.h"
#include "agent/outbox.h"
#include "agent/task_runner.h"
#include "protocol/framing.h"
#include "protocol/messages.h"
#include "security/handshake_monitor.h"
#include "util/status.h"
#include "util/task_thread.h"
#include "util/wake_fd.h"

namespace fp::agent {

class Agent {
 public:
  Agent(AgentConfig config, zmq::context_t& context, TaskRunner& runner);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Serves until stop(), max_tasks tasks, a Goodbye with leave_on_goodbye, a Reject
  // (returned as Status::protocol with the coordinator's reason), a handshake the
  // coordinator refused for good (its ZAP handler refused our key, or one side is
  // plain and the other CURVE: Status::protocol saying which), or the coordinator
  // unreachable for give_up_after (Status::unavailable).
  Status run();
  void stop();  // thread-safe
  AgentStats stats() const;
  // After run(): the task whose computation still runs on its worker thread (0: none). Its
  // result can no longer be sent (a stop handed it back), and destroying the Agent waits for
  // it: a program that must stop at once (SIGTERM) leaves without destroying it.
  uint64_t computing_task() const;
  // Take the connection `slot` keeps, if any, and leave it there after a finished run
  // (agent/connection_slot.h). Call before run(); the slot must outlive it.
  void share_connections(ConnectionSlot* slot) { slot_ = slot; }
  // Run tasks on `thread` instead of a thread of their own each (agents run one after
  // another on it take turns). Call before run(); the thread must outlive this Agent.
  void share_task_thread(TaskThread* thread) { task_thread_ = thread; }

 private:
  using Clock = std::chrono::steady_clock;
  enum class State { kIdle, kDownloading, kRunning, kReporting };
  enum class End { kLost, kStop, kGoodbye, kRejected, kRefused, kFinished };

  // agent.cpp: connection life cycle.
  End session();
  std::optional<End> connect();  // a new connection: socket, monitor, connect
  std::optional<End> check_handshake();
  void send(const proto::Message& message);
  void send_frame(std::string frame);
  bool wait_backoff(std::chrono::milliseconds delay);
  // max_tasks is set and that many tasks are finished, with none in progress.
  bool max_tasks_reached() const;
  bool gave_up() const;  // unreachable for longer than config_.give_up_after
  // How long the loop may sleep before a deadline of its own is due (at most 250 ms).
  std::chrono::milliseconds sleep_budget(Clock::time_point now, Clock::time_point started) const;

  // agent_messages.cpp: what the coordinator sends.
  std::optional<End> handle(const proto::Message& message);
  void on_welcome(const proto::Welcome& m);
  void on_assignment(const proto::TaskAssignment& m);
  void on_chunk(const proto::ChunkView& m);
  void on_two_part_chunk(const proto::PeerFrame& frame);
  void on_ack(const proto::Ack& m);
  std::optional<End> on_error(const proto::Error& m);
  // A task of this agent's individual ended (the coordinator acknowledged its end, or failed
  // it without assigning it here): counted, and told to AgentConfig::on_task_closed.
  void count_task_end(bool ok);

  // agent_task.cpp: download, run, report.
  void start_download();
  // After a download's start(): runs a model already there, or fetches it.
  void go_on_with_download(const Status& started);
  // A download the device's disk has no room for (`why`, an IOError) is made again in
  // memory, its partial file removed: the model runs from memory either way. False where
  // it was in memory already or failed otherwise (the task then fails).
  bool download_into_memory(const Status& why);
  void pump_download();
  void start_running();
  void collect_result();
  void settle_task();  // stopping: the task in progress is cancelled and waited for
  void finish_task(bool ok, const std::string& reason, uint32_t reports);
  // The task came from another coordinator database than the one just met: dropped
  // (a run in progress is cancelled, and its result dropped when it returns).
  void abandon_task();
  // The task this agent works on, as its Hello and heartbeats name it (0: none): until
  // the coordinator acknowledges its status, also after a restart (the outbox holds it).
  uint64_t current_task_id() const;
  // The task's status (its key kept in status_key_), and sending the frame that closes
  // the task: the status alone or a TaskResult with it.
  proto::TaskStatus closing_status(bool ok, const std::string& reason, uint32_t reports);
  void send_closing(std::string frame);
  std::string key_for(const std::string& suffix) const;

  AgentConfig config_;
  zmq::context_t& context_;
  TaskRunner& runner_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<security::HandshakeMonitor> monitor_;  // destroyed before socket_
  ConnectionSlot* slot_ = nullptr;
  TaskThread* task_thread_ = nullptr;  // share_task_thread; else a thread per task
  bool handshake_ok_ = false;          // this connection's handshake
  bool handshake_warned_ = false;      // libzmq retries a failing handshake: warn once
  bool watch_handshake_ = false;       // a plain session went unwelcomed: monitor the next ones
  std::atomic<bool> stop_{false};
  std::atomic<bool> cancel_{false};
  WakeFd wake_;  // the task's worker and stop() wake the loop through it

  // Session state.
  bool welcomed_ = false;
  uint32_t heartbeat_ms_ = 0, chunk_size_ = proto::kDefaultChunkBytes;
  uint32_t chunk_credit_ = proto::kDefaultChunkCredit;
  Clock::time_point last_heard_, last_heartbeat_, last_chunk_;
  std::string reject_reason_;
  std::string instance_id_;  // random, for the life of this Agent
  uint64_t privacy_seed_ = 0;

  // Task state (survives reconnects).
  State state_ = State::kIdle;
  std::optional<proto::TaskAssignment> task_;
  std::string database_id_;    // the coordinator's database, from its latest Welcome
  std::string task_database_;  // the database task_ came from (its messages are made for it)
  bool discard_run_ = false;   // the run in progress is abandoned: drop its result
  bool no_task_left_ = false;  // the coordinator said so (AgentConfig::leave_when_done)
  std::optional<proto::TaskAssignment> next_task_;  // assigned while an abandoned run ends
  std::unique_ptr<ModelDownload> download_;
  // A download kept in memory stays for the agent's next task of the same model, as a
  // file would stay on disk (AgentConfig::downloads_in_memory).
  std::shared_ptr<const std::string> kept_model_;
  std::string kept_model_sha_;
  std::future<TaskRunner::Outcome> result_;
  std::atomic<bool> task_done_{false};  // the worker is returning result_'s value
  std::string status_key_;              // the TaskStatus awaiting its Ack
  bool status_ok_ = false;
  uint32_t reports_in_result_ = 0;  // reports the status's Ack answers for (a TaskResult)
  Outbox outbox_;
  Clock::time_point last_contact_;  // the coordinator last heard from (or this agent's start)

  mutable std::mutex stats_mutex_;
  AgentStats stats_;
};

}  // namespace fp::agent
