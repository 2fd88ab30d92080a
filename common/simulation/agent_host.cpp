#include "simulation/agent_host.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <zmq.hpp>

#include "agent/agent.h"
#include "simulation/campaign_plan.h"
#include "simulation/shared_models.h"
#include "util/thread_name.h"

namespace fp::sim {

namespace fs = std::filesystem;

struct AgentHost::Context {
  zmq::context_t zmq{1};
};

std::vector<size_t> host_share(size_t individuals, int64_t index, int64_t hosts) {
  std::vector<size_t> out;
  if (hosts < 1 || index < 0 || index >= hosts) return out;
  for (size_t i = static_cast<size_t>(index); i < individuals; i += static_cast<size_t>(hosts)) {
    out.push_back(i);
  }
  return out;
}

HostOptions host_options_for(const Scenario& scenario) {
  const HostingSection& h = scenario.hosting;
  HostOptions o;
  o.workers = h.workers;
  o.connected = h.connected_per_host();
  o.threads_per_worker = h.threads_per_worker;
  o.compute_nice = static_cast<int>(h.compute_nice);
  o.tasks_per_agent = tasks_per_individual(scenario);
  o.keep_private_data = h.keep_private_data;
  o.folders_in_memory = h.folders_in_memory;
  o.private_data_in_memory = h.private_data_in_memory;
  o.downloads_in_memory = h.downloads_in_memory;
  o.share_connections = h.share_connections;
  o.security.plain = h.plain;
  return o;
}

RunnerFactory null_runner_factory() {
  return [](PrivateDataSource, WorkerPool& pool, ComputeMeter& meter) {
    return std::make_unique<NullRunner>(pool, meter);
  };
}

namespace {

constexpr const char* kMemoryFolderPrefix = "fineprune-agents-";

std::string journal_file(const std::string& work_dir) {
  return (fs::path(work_dir) / "finished.log").string();
}

// A journal line (read_host_journal reads it): "id" for an agent with no task left, else
// "id N".
std::string journal_line(const std::string& id, int64_t tasks_left) {
  return tasks_left == 0 ? id + "\n" : id + " " + std::to_string(tasks_left) + "\n";
}

// Memory folders of hosts that were killed (their process is gone) still hold private
// data in RAM: the next host on the machine removes them.
void remove_orphaned_memory_folders(const fs::path& memory_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(memory_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kMemoryFolderPrefix, 0) != 0) continue;
    const std::string rest = name.substr(std::strlen(kMemoryFolderPrefix));
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (pid <= 0 || end == rest.c_str() || *end != '-') continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours
    std::error_code rm;
    fs::remove_all(entry.path(), rm);
    if (!rm) spdlog::info("host: removed {} (its host process is gone)", entry.path().string());
  }
}

}  // namespace

Result<std::string> make_agent_folders_root(const HostOptions& options, bool& in_memory,
                                            const std::string& memory_dir,
                                            uint64_t min_free_bytes) {
  in_memory = false;
  std::error_code ec;
  bool use_memory = options.folders_in_memory && !options.keep_private_data &&
                    fs::is_directory(memory_dir, ec) && ::access(memory_dir.c_str(), W_OK) == 0;
  if (use_memory) {
    const fs::space_info space = fs::space(memory_dir, ec);
    if (ec || space.available < min_free_bytes) {
      spdlog::info("host: {} has {} MiB free, under {} MiB: agents' folders go to {}/agents",
                   memory_dir, ec ? 0 : space.available >> 20, min_free_bytes >> 20,
                   options.work_dir);
      use_memory = false;
    }
  }
  if (use_memory) {
    // Several hosts may share a process (in-process hosting) and a machine: pid and count.
    static std::atomic<int> made{0};
    remove_orphaned_memory_folders(memory_dir);
    const fs::path root = fs::path(memory_dir) / (kMemoryFolderPrefix + std::to_string(::getpid()) +
                                                  "-" + std::to_string(made++));
    fs::remove_all(root, ec);
    if (fs::create_directory(root, ec) && !ec) {
      fs::permissions(root, fs::perms::owner_all, ec);  // private data: the owner only
      in_memory = true;
      return root.string();
    }
    spdlog::warn("host: cannot create {} ({}); agents' folders go to {}/agents", root.string(),
                 ec.message(), options.work_dir);
  }
  const fs::path root = fs::path(options.work_dir) / "agents";
  fs::create_directories(root, ec);
  if (ec) return Status::io_error("creating " + root.string() + ": " + ec.message());
  return root.string();
}

AgentHost::AgentHost(HostOptions options, const Scenario& scenario, const Population& population)
    : options_(std::move(options)),
      scenario_(scenario),
      population_(population),
      pool_(std::max<int64_t>(1, options_.workers), options_.compute_nice),
      models_(std::make_shared<SharedModels>()),
      context_(std::make_unique<Context>()) {
  make_runner_ = [this](PrivateDataSource data, WorkerPool& pool, ComputeMeter& meter) {
    SimRunnerConfig rc;
    rc.data = std::move(data);
    rc.baselines = scenario_.baselines;
    rc.threads = options_.threads_per_worker;
    rc.models = models_;
    return std::make_unique<SimRunner>(rc, pool, meter);
  };
}

AgentHost::~AgentHost() = default;

size_t AgentHost::models_parsed() const { return models_->parses(); }

void AgentHost::stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto* a : live_agents_) a->stop();
}

HostProgress AgentHost::progress() const {
  HostProgress p;
  p.total = total_;
  p.live = live_;
  p.finished = finished_;
  p.failed = failed_;
  p.computing = pool_.busy();
  p.queued = std::max<int64_t>(0, p.total - p.live - p.finished - p.failed);
  return p;
}

std::map<std::string, int64_t> read_host_journal(const std::string& work_dir) {
  std::map<std::string, int64_t> left;
  std::ifstream in(journal_file(work_dir));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    // "id" (an agent id has no space), or "id N" (tasks left).
    const size_t space = line.rfind(' ');
    int64_t n = 0;
    if (space != std::string::npos) {
      const char* first = line.data() + space + 1;
      const char* last = line.data() + line.size();
      auto [end, error] = std::from_chars(first, last, n);
      if (error == std::errc() && end == last && n >= 0) {
        left[line.substr(0, space)] = n;
        continue;
      }
      n = 0;
    }
    left[line] = n;
  }
  return left;
}

Result<int64_t> add_to_host_journal(const std::string& work_dir,
                                    const std::map<std::string, int64_t>& tasks_left) {
  std::map<std::string, int64_t> there = read_host_journal(work_dir);
  std::string lines;
  int64_t added = 0;
  for (const auto& [id, n] : tasks_left) {
    auto it = there.find(id);
    if (it != there.end() && it->second == n) continue;
    lines += journal_line(id, n);
    ++added;
  }
  if (added == 0) return added;
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  const std::string path = journal_file(work_dir);
  std::ofstream out(path, std::ios::app);
  out << lines;
  out.flush();
  if (!out) return Status::io_error("appending to " + path + ": " + std::strerror(errno));
  return added;
}

Status AgentHost::run(const std::vector<size_t>& all) {
  // The work dir holds the journal (and, for fp-sim host, the stats file) wherever the
  // agents' folders go.
  std::error_code ec;
  fs::create_directories(options_.work_dir, ec);
  if (ec) return Status::io_error("creating " + options_.work_dir + ": " + ec.message());
  FP_ASSIGN_OR_RETURN(agents_root_, make_agent_folders_root(options_, root_in_memory_));
  // A restarted host (same work dir) skips the agents that already finished, and gives
  // those journaled with tasks left (by this host as their tasks ended, or by a resumed run)
  // only those: an agent with nothing left to do would hold a connection slot until the
  // campaign ends.
  journal_path_ = journal_file(options_.work_dir);
  tasks_left_ = read_host_journal(options_.work_dir);
  journal_fd_ = ::open(journal_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (journal_fd_ < 0) {
    spdlog::warn("host: cannot open {} ({}): a restart of this host will run its agents again",
                 journal_path_, std::strerror(errno));
  }
  std::vector<size_t> individuals;
  for (size_t i : all) {
    auto it = tasks_left_.find(agent_id(scenario_, i));
    if (it == tasks_left_.end() || it->second > 0) individuals.push_back(i);
  }
  if (individuals.size() < all.size()) {
    spdlog::warn("host: {} of {} agent(s) finished in an earlier run of this host ({})",
                 all.size() - individuals.size(), all.size(), journal_path_);
  }
  finished_ = static_cast<int64_t>(all.size() - individuals.size());
  total_ = static_cast<int64_t>(all.size());
  next_ = 0;
  size_t slots = std::min<size_t>(individuals.size(),
                                  static_cast<size_t>(std::max<int64_t>(1, options_.connected)));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < slots; ++i) {
    threads.emplace_back([this, &individuals] {
      set_thread_name("fp-agent");
      slot_loop(individuals);
    });
  }
  for (auto& t : threads) t.join();
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = -1;
  if (root_in_memory_) fs::remove_all(agents_root_, ec);  // scratch, even a failed agent's
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

// One slot: runs queued agents one after another until the queue is empty.
void AgentHost::slot_loop(const std::vector<size_t>& individuals) {
  agent::ConnectionSlot connection;   // handed from each agent of this slot to the next
  TaskThread task_thread("fp-task");  // where each agent of this slot waits for its compute
  while (!stop_) {
    size_t k = next_++;
    if (k >= individuals.size()) return;
    bool coordinator_left = false;
    Status s = run_agent(individuals[k], connection, task_thread, coordinator_left);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error_.ok()) error_ = s;
      stop_ = true;
      for (auto* a : live_agents_) a->stop();
      return;
    }
    if (coordinator_left) {
      // The campaign ended (or the coordinator went away for good): nothing more to do.
      spdlog::info("host: the coordinator said goodbye; leaving the remaining agents queued");
      stop_ = true;
      return;
    }
  }
}

Status AgentHost::run_agent(size_t individual, agent::ConnectionSlot& connection,
                            TaskThread& task_thread, bool& coordinator_left) {
  const std::string id = agent_id(scenario_, individual);
  const fs::path dir = fs::path(agents_root_) / id;
  const bool data_in_memory = options_.private_data_in_memory && !options_.keep_private_data;
  // A folder only for what goes into files: the private data, the download, or both.
  const bool has_folder = !data_in_memory || !options_.downloads_in_memory;
  std::error_code ec;
  if (has_folder) {
    fs::create_directories(dir, ec);
    if (ec) return Status::io_error("creating " + dir.string() + ": " + ec.message());
  }
  // The individual's private data, for this agent's runner alone: taken from the
  // population when it computes, or materialized in a file only this agent reads.
  PrivateDataSource data;
  if (data_in_memory) {
    data = [this, individual]() -> Result<PrivateData> {
      return private_data(population_, individual);
    };
  } else {
    std::string data_path = (dir / "private.bin").string();
    FP_RETURN_IF_ERROR(save_private_data(private_data(population_, individual), data_path));
    data = [path = std::move(data_path)] { return load_private_data(path); };
  }
  std::unique_ptr<agent::TaskRunner> runner = make_runner_(std::move(data), pool_, meter_);

  auto journaled = tasks_left_.find(id);
  const int64_t tasks =
      journaled != tasks_left_.end() ? journaled->second : options_.tasks_per_agent;
  agent::AgentConfig ac;
  ac.agent_id = id;
  ac.coordinator = options_.coordinator;
  ac.work_dir = dir.string();
  ac.datasets = {holding(population_, individual)};
  ac.threads = static_cast<uint32_t>(options_.threads_per_worker);
  ac.max_tasks = tasks;
  // Its progress, journaled as each task ends: a host restarted on its own (killed, its
  // share taken over) gives this agent only the tasks it has left. The last task's line is
  // written when the agent leaves.
  ac.on_task_closed = [this, id, tasks](int64_t ended) {
    if (ended < tasks) journal(id, tasks - ended);
  };
  ac.leave_on_goodbye = true;
  // Its count can be one too many (a host killed between a task's end and its journal
  // line): the coordinator then tells it that nothing is left, and it leaves.
  ac.leave_when_done = true;
  ac.hello_timeout = options_.hello_timeout;
  ac.resend_after = options_.resend_after;
  ac.reconnect_min = options_.reconnect_min;
  ac.reconnect_max = options_.reconnect_max;
  ac.give_up_after = options_.give_up_after;
  ac.security = options_.security;
  ac.durable_downloads = false;  // the agent's folder is scratch, deleted when it leaves
  ac.downloads_in_memory = options_.downloads_in_memory;
  // Privacy noise as reproducible as everything else: from the scenario's seed.
  ac.privacy_seed = scenario_.seed * 0x9e3779b97f4a7c15ull + individual + 1;

  Status result;
  agent::AgentStats stats;
  {
    agent::Agent agent(ac, context_->zmq, *runner);
    if (options_.share_connections) agent.share_connections(&connection);
    agent.share_task_thread(&task_thread);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_agents_.insert(&agent);
      if (stop_) agent.stop();
    }
    ++live_;
    result = agent.run();
    --live_;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_agents_.erase(&agent);
    }
    stats = agent.stats();
  }
  connects_ += stats.connects;
  if (has_folder && !options_.keep_private_data) fs::remove_all(dir, ec);

  bool ended = false;
  if (stats.tasks_failed > 0) {
    ++failed_;
    ended = true;
  } else if (stats.tasks_done >= tasks || stats.no_task_left) {
    ++finished_;
    ended = true;
  } else if (!stop_) {
    coordinator_left = result.ok();
  }
  if (ended) journal(id, 0);
  return result;
}

void AgentHost::journal(const std::string& agent_id, int64_t tasks_left) {
  const std::string line = journal_line(agent_id, tasks_left);
  std::lock_guard<std::mutex> lock(mutex_);
  // O_APPEND: a whole line at the end in one write, as a resumed run's lines are.
  if (journal_fd_ >= 0 && ::write(journal_fd_, line.data(), line.size()) < 0 && !journal_failed_) {
    journal_failed_ = true;  // said once: a full disk fails every line after
    spdlog::warn("host: writing {}: {} (a restart of this host may run agents again)",
                 journal_path_, std::strerror(errno));
  }
}

}  // namespace fp::sim
