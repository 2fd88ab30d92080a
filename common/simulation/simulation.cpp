#include "util/clock.h"
#include "util/memory.h"
#include "simulation/simulation.h"

#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "simulation/agent_host.h"
#include "simulation/campaign_setup.h"
#include "simulation/host_processes.h"
#include "coordinator/model_registry.h"
#include "simulation/population.h"
#include "simulation/progress.h"
#include "security/keys.h"
#include "coordinator/server.h"
#include "simulation/sim_store.h"

namespace fp::sim {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double cpu_seconds(int who) {
  struct rusage u {};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Sends this run's log lines (coordinator and in-process agents alike) to a file and
// puts the previous logger back when done.
class LogToFile {
 public:
  LogToFile(const std::string& path, const std::string& level)
      : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
    auto logger = std::make_shared<spdlog::logger>("fp-sim-run", sink);
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
  }
  ~LogToFile() {
    spdlog::default_logger()->flush();
    spdlog::set_default_logger(previous_);
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
};

// Host meters, summed: from in-process hosts directly, from child hosts' stats files.
struct Meters {
  int64_t tasks = 0, failures = 0;
  double compute_wall = 0, compute_cpu = 0, load_wall = 0, wait_wall = 0;
  void add(const ComputeMeter& m) {
    tasks += m.tasks;
    failures += m.failures;
    compute_wall += 1e-6 * static_cast<double>(m.compute_wall_us);
    compute_cpu += 1e-6 * static_cast<double>(m.compute_cpu_us);
    load_wall += 1e-6 * static_cast<double>(m.load_wall_us);
    wait_wall += 1e-6 * static_cast<double>(m.wait_wall_us);
  }
  void add(const nlohmann::json& j) {
    tasks += j.value("tasks", int64_t{0});
    failures += j.value("failures", int64_t{0});
    compute_wall += j.value("compute_seconds", 0.0);
    compute_cpu += j.value("compute_cpu_seconds", 0.0);
    load_wall += j.value("load_seconds", 0.0);
    wait_wall += j.value("wait_seconds", 0.0);
  }
};

// Ephemeral CURVE keys of one run, in <out>/keys: the coordinator's pair and one pair
// per agent host, each enrolled in the run's database as "host-<i>".
struct RunKeys {
  security::KeyPair coordinator;
  std::vector<security::KeyPair> hosts;
  std::string dir;
  std::string host_base(int64_t i) const { return dir + "/host-" + std::to_string(i); }
  std::string coordinator_public() const { return dir + "/coordinator.pub"; }
};

Result<RunKeys> make_run_keys(const fs::path& out, int64_t hosts, store::Store& store) {
  RunKeys keys;
  keys.dir = (out / "keys").string();
  FP_ASSIGN_OR_RETURN(keys.coordinator, security::generate_keypair());
  FP_RETURN_IF_ERROR(security::write_keypair(keys.coordinator, keys.dir + "/coordinator", true));
  for (int64_t i = 0; i < hosts; ++i) {
    FP_ASSIGN_OR_RETURN(auto pair, security::generate_keypair());
    FP_RETURN_IF_ERROR(security::write_keypair(pair, keys.host_base(i), true));
    FP_RETURN_IF_ERROR(store.enroll_key(pair.public_key, "host-" + std::to_string(i), unix_now()));
    keys.hosts.push_back(pair);
  }
  return keys;
}

std::vector<std::string> host_command_line(const std::string& exe, const Scenario& s,
                                           const std::string& scenario_path,
                                           const std::string& endpoint, int64_t index,
                                           const std::string& work_dir,
                                           const std::string& stats_file, const RunKeys& keys) {
  const HostingSection& h = s.hosting;
  std::vector<std::string> security;
  if (!h.plain) {
    security = {"--key", keys.host_base(index), "--coordinator-key", keys.coordinator_public()};
  }
  std::vector<std::string> argv = {exe,
                                   "host",
                                   "--coordinator",
                                   endpoint,
                                   "--scenario",
                                   scenario_path,
                                   "--host-index",
                                   std::to_string(index),
                                   "--hosts",
                                   std::to_string(h.hosts),
                                   "--seed",
                                   std::to_string(s.seed),
                                   "--individuals",
                                   std::to_string(s.partition.num_individuals),
                                   "--workers",
                                   std::to_string(h.workers),
                                   "--connected",
                                   std::to_string(h.connected_per_host()),
                                   "--threads-per-worker",
                                   std::to_string(h.threads_per_worker),
                                   "--work-dir",
                                   work_dir,
                                   "--stats-file",
                                   stats_file,
                                   "--log-level",
                                   "warn"};
  argv.insert(argv.end(), security.begin(), security.end());
  return argv;
}

}  // namespace

std::string run_database(const std::string& out_dir) {
  return (fs::path(out_dir) / "fp.db").string();
}

Result<RunOutcome> run_scenario(const Scenario& s, const RunOptions& o) {
  auto started = Clock::now();
  const double started_unix = unix_now();
  const fs::path out(o.out_dir);
  std::error_code ec;
  if (o.fresh) fs::remove_all(out, ec);
  if (fs::exists(out / "fp.db")) {
    return Status::invalid_argument(
        o.out_dir + " already holds a run: show it with 'fp-sim report --db " +
        run_database(o.out_dir) + "', or start over with --fresh (or another --out)");
  }
  fs::create_directories(out / "hosts", ec);
  if (ec) return Status::io_error("creating " + o.out_dir + ": " + ec.message());
  const std::string scenario_path = (out / "scenario.toml").string();
  {
    std::ofstream copy(scenario_path, std::ios::binary);
    copy << s.text;
    if (!copy) return Status::io_error("writing " + scenario_path);
  }
  LogToFile logging((out / "fp-sim.log").string(), o.log_level);
  auto say = [&](const std::string& line) {
    spdlog::info("{}", line);
    if (o.progress) std::fprintf(o.progress, "%s\n", line.c_str());
    if (o.progress) std::fflush(o.progress);
  };

  FP_ASSIGN_OR_RETURN(auto store, store::Store::open(run_database(o.out_dir)));
  coord::ModelRegistry registry((out / "models").string(), *store);
  FP_ASSIGN_OR_RETURN(SimStore sim, SimStore::open(*store));
  RunRecord record;
  record.scenario = s.name;
  record.scenario_toml = s.text;
  record.seed = s.seed;
  record.started_at = started_unix;
  FP_ASSIGN_OR_RETURN(int64_t run_id, sim.add_run(record));
  if (o.on_database) {
    Status ready = o.on_database(run_database(o.out_dir));
    if (!ready.ok()) {
      (void)sim.finish_run(run_id, "failed", unix_now(),
                           nlohmann::json{{"detail", ready.to_string()}}.dump());
      return ready;
    }
  }

  say("scenario " + s.name + " (" + s.source + "), seed " + std::to_string(s.seed) + ", run " +
      std::to_string(run_id) + " in " + o.out_dir);
  // A run that cannot start is recorded as failed, with why.
  auto setup_failed = [&](const Status& why) {
    nlohmann::json stats = {{"detail", why.to_string()}};
    (void)sim.finish_run(run_id, "failed", unix_now(), stats.dump());
    return why;
  };
  auto loading = Clock::now();
  auto loaded = load_population(s);
  if (!loaded.ok()) return setup_failed(loaded.status());
  Population population = std::move(loaded).value();
  say(fmt::format("{} individual(s) from {} ({} pool samples, partition {}), {:.1f} s",
                  population.individuals.size(), population.dataset, population.pool.size(),
                  partition_method_name(s.partition.method), seconds_since(loading)));
  auto planned = setup_campaigns(s, population, *store, registry, sim, run_id, say);
  if (!planned.ok()) return setup_failed(planned.status());
  const CampaignPlan plan = std::move(planned).value();
  const double setup_seconds = seconds_since(started);

  // ---- The campaign: coordinator, hosts, progress. ----
  auto campaign_started = Clock::now();
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  zmq::context_t context(1);
  coord::ServerConfig sc;
  sc.endpoint = s.hosting.endpoint;
  sc.heartbeat_ms = static_cast<uint32_t>(s.hosting.heartbeat_ms);
  sc.liveness = static_cast<uint32_t>(s.hosting.liveness);
  sc.max_attempts = s.hosting.max_attempts;
  sc.exit_when_done = true;
  sc.security.plain = s.hosting.plain;
  RunKeys keys;
  if (!s.hosting.plain) {
    auto made = make_run_keys(out, s.hosting.hosts, *store);
    if (!made.ok()) return setup_failed(made.status());
    keys = std::move(made).value();
    sc.security.own = keys.coordinator;
    say("CURVE security: ephemeral keys in " + keys.dir + ", " + std::to_string(keys.hosts.size()) +
        " host key(s) enrolled");
  }
  coord::Server server(sc, context, *store, registry);
  Status bound = server.bind();
  if (!bound.ok()) return setup_failed(bound);
  const std::string endpoint = server.bound_endpoint();
  std::atomic<bool> server_done{false};
  Status server_status;
  std::thread server_thread([&] {
    server_status = server.run();
    server_done = true;
  });

  const HostingSection& h = s.hosting;
  const int64_t tasks_each = tasks_per_individual(s);
  std::vector<std::unique_ptr<AgentHost>> hosts;
  std::vector<std::thread> host_threads;
  std::vector<Status> host_status(static_cast<size_t>(h.hosts));
  std::atomic<int64_t> hosts_running{0};
  std::vector<ChildProcess> children;
  Status launch;
  const bool external = h.mode == HostingMode::kExternal;
  for (int64_t i = 0; i < h.hosts && launch.ok() && !external; ++i) {
    const std::string work_dir = (out / "hosts" / std::to_string(i)).string();
    if (h.mode == HostingMode::kInProcess) {
      HostOptions ho;
      ho.coordinator = endpoint;
      ho.work_dir = work_dir;
      ho.workers = h.workers;
      ho.connected = h.connected_per_host();
      ho.threads_per_worker = h.threads_per_worker;
      ho.tasks_per_agent = tasks_each;
      ho.keep_private_data = h.keep_private_data;
      ho.security.plain = h.plain;
      if (!h.plain) {
        ho.security.own = keys.hosts[static_cast<size_t>(i)];
        ho.security.server_public = keys.coordinator.public_key;
      }
      hosts.push_back(std::make_unique<AgentHost>(ho, s, population));
      if (o.null_compute) {
        hosts.back()->set_runner_factory(
            [](const std::string&, WorkerPool& pool, ComputeMeter& meter) {
              return std::make_unique<NullRunner>(pool, meter);
            });
      }
      auto share = host_share(population.individuals.size(), i, h.hosts);
      ++hosts_running;
      host_threads.emplace_back([&, i, share, host = hosts.back().get()] {
        host_status[static_cast<size_t>(i)] = host->run(share);
        --hosts_running;
      });
    } else {
      std::string exe = o.executable.empty() ? self_executable() : o.executable;
      auto argv = host_command_line(exe, s, scenario_path, endpoint, i, work_dir,
                                    work_dir + "/stats.json", keys);
      if (o.null_compute) argv.push_back("--null-compute");
      fs::create_directories(work_dir, ec);
      auto child = spawn_child(argv, "host " + std::to_string(i), work_dir + ".log");
      if (!child.ok()) {
        launch = child.status();
        break;
      }
      children.push_back(*child);
    }
  }
  say(
      fmt::format("coordinator on {}; {} {} host(s) x {} worker(s), up to {} agent(s) connected "
                  "per host; {} task(s) in {} campaign(s)",
                  endpoint, h.hosts, hosting_mode_name(h.mode), h.workers, h.connected_per_host(),
                  plan.tasks, plan.campaigns.size()));
  if (o.on_listening) o.on_listening(endpoint);
  if (external) {
    say(
        fmt::format("waiting for {} agent host(s); start host i (0..{}) on any machine with\n"
                    "  fp-sim host --coordinator tcp://<this machine>:{} --scenario {} "
                    "--hosts {} --host-index i --seed {} --individuals {}{}",
                    h.hosts, h.hosts - 1, endpoint.substr(endpoint.rfind(':') + 1), scenario_path,
                    h.hosts, s.seed, s.partition.num_individuals,
                    h.plain ? ""
                            : " --key " + keys.dir + "/host-i --coordinator-key " +
                                  keys.coordinator_public() + "\n  (copy the keys/ folder along)"));
  }

  auto reader = store::Store::open(run_database(o.out_dir));
  ProgressPrinter printer(o.progress ? o.progress : stdout, o.interactive);
  ProgressState state;
  state.total = plan.tasks;
  auto poll_progress = [&] {
    if (!reader.ok()) return;
    int64_t done = 0, failed = 0, running = 0;
    for (const auto& c : plan.campaigns) {
      auto counts = (*reader)->task_counts(c.campaign_id);
      if (!counts.ok()) return;
      done += counts->done;
      failed += counts->failed;
      running += counts->assigned;
    }
    state.done = done;
    state.failed = failed;
    state.running = running;
    state.elapsed_seconds = seconds_since(campaign_started);
    if (!hosts.empty()) {
      state.live_agents = state.computing = 0;
      for (const auto& host : hosts) {
        auto p = host->progress();
        state.live_agents += p.live;
        state.computing += p.computing;
      }
    }
  };

  std::string status = "done", detail;
  if (!launch.ok()) {
    status = "failed";
    detail = launch.to_string();
  }
  while (status == "done" && !server_done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    poll_progress();
    if (o.progress) printer.update(state);
    if (o.interrupt && *o.interrupt) {
      status = "interrupted";
      detail = "interrupted before every task finished";
      break;
    }
    bool hosts_alive = external || (!hosts.empty() && hosts_running > 0);
    for (auto& c : children) hosts_alive = !reap_child(c, false) || hosts_alive;
    if (!hosts_alive && !server_done) {
      // Give the coordinator a moment to commit what the last agents sent.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      if (server_done) break;
      status = "failed";
      detail = "every agent host ended before the campaign finished (see " +
               (out / "hosts").string() + "/*.log and fp-sim.log)";
    }
  }
  // The campaign's time ends here: what follows is shutdown.
  const double campaign_seconds = seconds_since(campaign_started);
  server.request_stop();
  server_thread.join();
  for (auto& host : hosts) host->stop();
  for (auto& t : host_threads) t.join();
  // Child hosts leave by themselves once the coordinator says Goodbye; nudge late ones.
  auto grace_until = Clock::now() + std::chrono::seconds(5);
  for (auto& c : children) {
    while (!reap_child(c, false) && Clock::now() < grace_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!c.exited) {
      signal_child(c, SIGTERM);
      reap_child(c, true);
    }
  }
  const double cpu_self = cpu_seconds(RUSAGE_SELF) - cpu_before;
  poll_progress();
  if (o.progress) printer.finish(state);
  if (!server_status.ok() && status == "done") {
    status = "failed";
    detail = "coordinator: " + server_status.to_string();
  }
  for (size_t i = 0; i < host_status.size() && i < hosts.size(); ++i) {
    if (!host_status[i].ok() && status == "done") {
      status = "failed";
      detail = "host " + std::to_string(i) + ": " + host_status[i].to_string();
    }
  }
  if (status == "done" && state.done + state.failed < state.total) {
    status = "failed";
    detail = "the coordinator stopped with unfinished tasks";
  }

  // ---- Measurements. ----
  Meters meters;
  for (const auto& host : hosts) meters.add(host->meter());
  nlohmann::json processes = nlohmann::json::array();
  const double self_mb = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);
  double peak_total_mb = self_mb;
  processes.push_back(
      {{"role", h.mode == HostingMode::kInProcess ? "fp-sim run (coordinator + agent hosts)"
                                                  : "fp-sim run (coordinator)"},
       {"pid", static_cast<int64_t>(::getpid())},
       {"peak_rss_mb", self_mb},
       {"campaign_cpu_seconds", cpu_self}});
  double cpu_all = cpu_self;
  for (size_t i = 0; i < children.size(); ++i) {
    const auto& c = children[i];
    std::ifstream in((out / "hosts" / std::to_string(i) / "stats.json").string());
    auto j = nlohmann::json::parse(in, nullptr, false);
    bool reported = !j.is_discarded() && j.is_object();
    if (reported) meters.add(j);
    // The host's own VmHWM; wait4's figure (an upper bound) only if it wrote none.
    double mb = reported ? j.value("peak_rss_mb", 0.0)
                         : static_cast<double>(c.peak_rss_bytes) / (1024.0 * 1024.0);
    peak_total_mb += mb;
    cpu_all += c.cpu_seconds;
    processes.push_back({{"role", c.name},
                         {"pid", static_cast<int64_t>(c.pid)},
                         {"exit_code", c.exit_code},
                         {"peak_rss_mb", mb},
                         {"cpu_seconds", c.cpu_seconds}});
    if (c.exit_code != 0 && status == "done") {
      status = "failed";
      detail = c.name + " exited with code " + std::to_string(c.exit_code) + " (see " +
               (out / "hosts").string() + "/" + std::to_string(i) + ".log)";
    }
  }
  int64_t telemetry_rows = 0;
  if (reader.ok()) {
    for (const auto& c : plan.campaigns) {
      auto rows = (*reader)->telemetry(c.campaign_id);
      if (rows.ok()) telemetry_rows += static_cast<int64_t>(rows->size());
    }
  }
  const double worker_capacity = static_cast<double>(h.hosts * h.workers) * campaign_seconds;
  nlohmann::json stats = {
      {"wall_seconds", seconds_since(started)},
      {"setup_seconds", setup_seconds},
      {"train_seconds", plan.train_seconds},
      {"models_trained", plan.models_trained},
      {"campaign_seconds", campaign_seconds},
      {"individuals", population.individuals.size()},
      {"tasks", plan.tasks},
      {"tasks_done", state.done},
      {"tasks_failed", state.failed},
      {"null_compute", o.null_compute},
      {"hosting", hosting_mode_name(h.mode)},
      {"hosts", h.hosts},
      {"workers_per_host", h.workers},
      {"connected_per_host", h.connected_per_host()},
      {"compute_seconds", meters.compute_wall},
      {"compute_cpu_seconds", meters.compute_cpu},
      {"load_seconds", meters.load_wall},
      {"campaign_cpu_seconds", cpu_all},
      // The framework's share: CPU not spent inside the agents' personalize() calls,
      // and worker capacity (workers x wall) not spent inside them.
      {"overhead_cpu_share", cpu_all > 0 ? 1.0 - meters.compute_cpu / cpu_all : 0.0},
      {"overhead_wall_share",
       worker_capacity > 0 ? 1.0 - meters.compute_wall / worker_capacity : 0.0},
      {"telemetry_rows", telemetry_rows},
      {"telemetry_per_second", campaign_seconds > 0 ? telemetry_rows / campaign_seconds : 0.0},
      {"processes", processes},
      {"peak_rss_total_mb", peak_total_mb},
      {"coordinator",
       {{"frames_in", server.stats().frames_in},
        {"reports_stored", server.stats().reports_stored},
        {"reports_duplicate", server.stats().reports_duplicate},
        {"chunk_bytes_sent", server.stats().chunk_bytes_sent},
        {"agents_dropped", server.stats().agents_dropped},
        {"tasks_requeued", server.stats().tasks_requeued}}}};
  if (!detail.empty()) stats["detail"] = detail;
  FP_RETURN_IF_ERROR(sim.finish_run(run_id, status, unix_now(), stats.dump()));
  spdlog::info("run {} {}: {}", run_id, status, stats.dump());
  return RunOutcome{run_id, run_database(o.out_dir), status, detail, stats.dump()};
}

}  // namespace fp::sim
