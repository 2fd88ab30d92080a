// An agent host: many virtual agents in one process. Each virtual agent is a full
// fp::agent::Agent with its own identity, session and folder (its download), holding one
// individual's private data (in memory, or in a file of its folder); the agents a slot
// runs one after another take turns on one DEALER connection
// (HostOptions::share_connections). At most `connected` agents are alive at once (one
// thread each); the others wait in a queue with no socket, file or memory. At most
// `workers` of the live agents compute at once (WorkerPool), each with one LibTorch
// thread, so a 2-core machine runs a thousand agents without thrashing.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "security/curve.h"
#include "simulation/population.h"
#include "simulation/scenario.h"
#include "simulation/sim_runner.h"
#include "util/status.h"
#include "util/task_thread.h"

namespace fp::agent {
class Agent;
class ConnectionSlot;
}  // namespace fp::agent

namespace fp::sim {

struct HostOptions {
  std::string coordinator;  // the coordinator's endpoint
  std::string work_dir;     // agents/<agent id>/ is created here for each live agent
  int64_t workers = 2, connected = 8, threads_per_worker = 1;
  int compute_nice = 0;         // added to the nice value of the compute threads (WorkerPool)
  int64_t tasks_per_agent = 1;  // the agent leaves after this many tasks
  bool keep_private_data = false;
  // Live agents' folders (private data file, downloaded model) in memory (/dev/shm)
  // instead of <work_dir>/agents: they are scratch, deleted when the agent leaves, and
  // creating and deleting thousands of them was most of a host's kernel time on disk
  // (docs/SIMULATIONS.md). Ignored with keep_private_data, whose files must outlast the run.
  bool folders_in_memory = false;
  // A virtual agent's runner takes its individual's samples from the host's population
  // when it computes, instead of reading a file the host wrote for it: writing, reading
  // and deleting that file was 0.1-0.4 ms of an agent's ~2-3 ms of framework time
  // (docs/SIMULATIONS.md). Either way only that agent's runner sees them. Ignored with
  // keep_private_data, which keeps the files.
  bool private_data_in_memory = false;
  // A virtual agent keeps its model download in memory (AgentConfig::downloads_in_memory)
  // instead of a file in its folder: writing, renaming and deleting it, and making and
  // removing the folder, were 0.1-0.3 ms of an agent's framework time (docs/SIMULATIONS.md).
  // With private data in memory too, an agent has no folder at all.
  bool downloads_in_memory = false;
  // Each slot's agents, one after another, use one connection to the coordinator, each
  // with a session of its own (agent/connection_slot.h); false: a connection per agent.
  bool share_connections = true;
  std::chrono::milliseconds hello_timeout{3000}, resend_after{2000};
  std::chrono::milliseconds reconnect_min{100}, reconnect_max{2000};
  // An agent that finds the coordinator unreachable this long ends the host with its error
  // (0: never; fp-sim host --give-up-after).
  std::chrono::milliseconds give_up_after{0};
  // How the agents connect: plain, or CURVE with this host's enrolled key pair (its
  // agents share it: a host is one enrolled machine) and the coordinator's public key.
  security::SocketSecurity security;
};

// What a host of `scenario` runs with: its [hosting] settings and tasks per agent. The
// caller adds the coordinator's endpoint, the work dir and the security.
HostOptions host_options_for(const Scenario& scenario);

// Makes the task runner of one live agent; the default is a SimRunner on the agent's
// private data. Benchmarks plug in a NullRunner to time the framework alone.
using RunnerFactory = std::function<std::unique_ptr<agent::TaskRunner>(
    PrivateDataSource data, WorkerPool& pool, ComputeMeter& meter)>;
// Agents that answer every task at once (NullRunner): the framework's own cost.
RunnerFactory null_runner_factory();

// The host's agents by state; every field is a count except the meter.
struct HostProgress {
  int64_t total = 0, queued = 0, live = 0, computing = 0, finished = 0, failed = 0;
};

class AgentHost {
 public:
  AgentHost(HostOptions options, const Scenario& scenario, const Population& population);
  ~AgentHost();

  // Runs the given individuals' agents until each has done its tasks, the coordinator
  // says Goodbye (then the queue is abandoned), or stop(). Agents that finished are
  // journaled in <work_dir>/finished.log and skipped by a later run of the same host.
  // Errors: a Reject, or a private data file that cannot be written.
  Status run(const std::vector<size_t>& individuals);
  void stop();  // thread-safe
  void set_runner_factory(RunnerFactory factory) { make_runner_ = std::move(factory); }

  HostProgress progress() const;
  // Connections its agents opened (reconnects included); with shared connections about one
  // a slot, else one an agent.
  int64_t connections_opened() const { return connects_; }
  const ComputeMeter& meter() const { return meter_; }
  // General models parsed for its agents' tasks: one per model downloaded into memory,
  // however many agents computed with it (simulation/shared_models.h).
  size_t models_parsed() const;
  // Where the live agents' folders are made (set by run(); a memory folder is removed
  // when run() returns).
  const std::string& agent_folders() const { return agents_root_; }

 private:
  void slot_loop(const std::vector<size_t>& individuals);
  Status run_agent(size_t individual, agent::ConnectionSlot& connection, TaskThread& task_thread,
                   bool& coordinator_left);
  // Appends "agent has `tasks_left` tasks left" (0: finished) to the journal.
  void journal(const std::string& agent_id, int64_t tasks_left);

  HostOptions options_;
  const Scenario& scenario_;
  const Population& population_;
  WorkerPool pool_;
  std::shared_ptr<SharedModels> models_;  // the general models its agents downloaded, parsed
  ComputeMeter meter_;
  RunnerFactory make_runner_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> next_{0};
  std::atomic<int64_t> total_{0}, live_{0}, finished_{0}, failed_{0}, connects_{0};

  std::string journal_path_;  // agents finished, or with tasks left (below)
  int journal_fd_ = -1;       // open for appending while run() runs: a line an agent, no open each
  bool journal_failed_ = false;
  std::map<std::string, int64_t> tasks_left_;  // as journaled when run() began
  std::string agents_root_;                    // the live agents' folders are made here
  bool root_in_memory_ = false;
  std::mutex mutex_;  // guards live_agents_, error_ and the journal
  std::set<agent::Agent*> live_agents_;
  Status error_;
  struct Context;
  std::unique_ptr<Context> context_;  // the host's ZeroMQ context
};

// The journal of a host's `work_dir` (finished.log): agent id -> tasks it has left, from a
// line per agent that finished ("id": 0) or per agent with some of its tasks ended ("id N",
// written by the host as each of an agent's tasks ends, and by a resumed run from its
// database); an id's last line wins. A host run there skips the agents with 0 and gives
// those listed with N only N tasks to do.
std::map<std::string, int64_t> read_host_journal(const std::string& work_dir);
// Appends the entries of `tasks_left` the journal does not hold yet (making the folder if
// needed); returns how many.
Result<int64_t> add_to_host_journal(const std::string& work_dir,
                                    const std::map<std::string, int64_t>& tasks_left);

// The individuals host `index` of `hosts` runs: every hosts-th one, starting at index.
std::vector<size_t> host_share(size_t individuals, int64_t index, int64_t hosts);

// Creates the folder a host makes its live agents' folders in: a new, private folder
// under `memory_dir` when `options` ask for memory (and keep no private data) and
// `memory_dir` is a writable folder with at least `min_free_bytes` free (a container's
// /dev/shm is often 64 MB), else <work_dir>/agents. `in_memory` says which.
Result<std::string> make_agent_folders_root(const HostOptions& options, bool& in_memory,
                                            const std::string& memory_dir = "/dev/shm",
                                            uint64_t min_free_bytes = uint64_t{256} << 20);

}  // namespace fp::sim
