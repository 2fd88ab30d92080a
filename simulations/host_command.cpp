// fp-sim host: an agent host on this machine, against a coordinator anywhere. It runs
// the share of the scenario's individuals that belongs to host --host-index of
// --hosts (every hosts-th one), materializing their private data under --work-dir.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/cli_checks.h"
#include "config/duration.h"
#include "protocol/endpoint.h"
#include "security/keys.h"
#include "sim_commands.h"
#include "simulation/agent_host.h"
#include "simulation/campaign_plan.h"
#include "simulation/compute_totals.h"
#include "simulation/population.h"
#include "util/compute_threads.h"
#include "util/descriptor_limit.h"
#include "util/file_io.h"
#include "util/memory.h"

namespace fp::sim {
namespace {

struct HostCommandOptions {
  std::string coordinator, scenario, work_dir = "fp-sim-host", stats_file;
  int64_t host_index = -1, hosts = 0, workers = 0, connected = 0, threads = 0;
  int64_t individuals = 0;
  int64_t seed = -1;
  int64_t parent_pid = 0;  // stop when this process ends (fp-sim run's own hosts)
  std::string log_level = "info";
  bool null_compute = false;
  std::string key, coordinator_key;  // CURVE: this host's key pair, the coordinator's key
  std::string give_up_after = "0";   // a duration; "0": never
};

// Only an atomic store in the handler; a watcher thread does the stopping.
std::atomic<bool> g_signalled{false};
extern "C" void on_host_signal(int) { g_signalled = true; }

// Slurm job arrays and Kubernetes indexed Jobs name the index in the environment. A
// variable set to something else is an error: taken as 0, a second host would run host
// 0's agents again.
Result<int64_t> index_from_environment() {
  for (const char* name : {"FP_HOST_INDEX", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"}) {
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(v, &end, 10);
      if (end == v || *end != '\0' || x < 0 || errno == ERANGE) {
        return Status::invalid_argument(fmt::format(
            "${}='{}' is not a host index (a whole number from 0); give --host-index", name, v));
      }
      return x;
    }
  }
  return 0;
}

int run_host(HostCommandOptions o) {
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  raise_descriptor_limit();  // a connection per agent: a shell's 1,024 aborted hosts
  auto loaded = load_scenario(o.scenario);
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().to_string());
    return 2;
  }
  Scenario s = std::move(loaded).value();
  if (o.seed >= 0) set_seed(s, static_cast<uint64_t>(o.seed));
  if (o.individuals > 0) s.partition.num_individuals = o.individuals;
  if (o.hosts > 0) s.hosting.hosts = o.hosts;
  if (o.workers > 0) s.hosting.workers = o.workers;
  if (o.connected > 0) s.hosting.connected = o.connected;
  if (o.threads > 0) s.hosting.threads_per_worker = o.threads;
  if (o.host_index < 0) {
    auto index = index_from_environment();
    if (!index.ok()) {
      spdlog::error("{}", index.status().message());
      return 2;
    }
    o.host_index = *index;
  }
  auto give_up = config::parse_duration(o.give_up_after);
  if (!give_up.ok()) {
    spdlog::error("--give-up-after: {}", give_up.status().message());
    return 2;
  }
  // Found now, not once every agent of the host has started and failed to connect.
  if (Status endpoint = proto::check_program_endpoint(o.coordinator, proto::EndpointUse::kConnect);
      !endpoint.ok()) {
    spdlog::error("--coordinator: {}", endpoint.message());
    return 2;
  }
  if (!o.work_dir.empty()) {
    std::error_code ec;
    Status work =
        std::filesystem::exists(o.work_dir, ec) && !std::filesystem::is_directory(o.work_dir, ec)
            ? Status::invalid_argument(o.work_dir + " is not a folder")
            : check_can_make(o.work_dir, "work folder");
    if (!work.ok()) {
      spdlog::error("--work-dir: {}", work.message());
      return 2;
    }
  }
  // The stats file's folder is made now: a failure is found at the start, not after the run.
  if (!o.stats_file.empty()) {
    const auto folder = std::filesystem::absolute(o.stats_file).parent_path();
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    if (!std::filesystem::is_directory(folder, ec)) {
      spdlog::error("--stats-file {}: its folder {} cannot be made", o.stats_file, folder.string());
      return 2;
    }
  }
  if (o.host_index >= s.hosting.hosts) {
    spdlog::error("--host-index {} is not below --hosts {}", o.host_index, s.hosting.hosts);
    return 2;
  }
  set_compute_threads(static_cast<int>(s.hosting.threads_per_worker));
  if (!o.null_compute) {
    Status blas = check_concurrent_blas(s.hosting.workers,
                                        fmt::format("fp-sim host ({} workers)", s.hosting.workers));
    if (!blas.ok()) {
      spdlog::error("{}", blas.to_string());
      return 2;
    }
  }

  auto population = load_population(s);
  if (!population.ok()) {
    spdlog::error("{}", population.status().to_string());
    return 1;
  }
  auto share = host_share(population->individuals.size(), o.host_index, s.hosting.hosts);
  HostOptions ho = host_options_for(s);
  if (!s.hosting.plain) {
    if (o.key.empty() || o.coordinator_key.empty()) {
      spdlog::error(
          "scenario {} uses hosting.security = \"curve\": pass --key (this host's enrolled key "
          "pair, e.g. <run>/keys/host-{}) and --coordinator-key (<run>/keys/coordinator.pub)",
          s.name, o.host_index);
      return 2;
    }
    auto pair = security::read_keypair(o.key);
    auto server = pair.ok() ? security::read_public_key(o.coordinator_key)
                            : Result<std::string>(pair.status());
    if (!server.ok()) {
      spdlog::error("{}", server.status().to_string());
      return 2;
    }
    ho.security.own = *pair;
    ho.security.server_public = *server;
  }
  ho.coordinator = o.coordinator;
  ho.work_dir = o.work_dir;
  ho.give_up_after = *give_up;
  AgentHost host(ho, s, *population);
  if (o.null_compute) {
    host.set_runner_factory(null_runner_factory());
  }
  // Plain output, whatever the log level: what a Slurm or Kubernetes log should show.
  fmt::print("host {}/{}: {} agent(s) of scenario {} -> {} ({} worker(s), {} connected)\n",
             o.host_index, s.hosting.hosts, share.size(), s.name, o.coordinator, ho.workers,
             ho.connected);
  std::fflush(stdout);  // a log file is block-buffered
  signal(SIGINT, on_host_signal);
  signal(SIGTERM, on_host_signal);
  if (o.parent_pid > 0) {
    // A host of `fp-sim run --mode processes` stops with its run, even one killed outright:
    // left behind, it would retry a dead endpoint for ever (and a resumed run starts its own).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != static_cast<pid_t>(o.parent_pid)) g_signalled = true;  // gone already
  }
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished) {
      if (g_signalled) {
        host.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto started = std::chrono::steady_clock::now();
  Status result = host.run(share);
  finished = true;
  watcher.join();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  auto p = host.progress();
  nlohmann::json stats = {{"host_index", o.host_index},
                          {"agents", share.size()},
                          {"finished", p.finished},
                          {"failed", p.failed},
                          {"connections_opened", host.connections_opened()},
                          {"wall_seconds", seconds},
                          {"agent_folders", host.agent_folders()},
                          {"models_parsed", host.models_parsed()},
                          {"peak_rss_mb", static_cast<double>(peak_rss_bytes()) / (1 << 20)}};
  ComputeTotals::of(host.meter()).write_to(stats);
  if (!o.stats_file.empty()) {  // fp-sim run reads it; a host that cannot write it says so
    Status written = write_file(o.stats_file, stats.dump(2) + "\n", "host stats file");
    if (!written.ok()) {
      spdlog::error("{}", written.to_string());
      if (result.ok()) result = written;
    }
  }
  fmt::print("host {}: {} agent(s) finished, {} failed, {:.1f} s\n", o.host_index, p.finished,
             p.failed, seconds);
  if (!result.ok()) {
    spdlog::error("{}", result.to_string());
    return 1;
  }
  return 0;
}

}  // namespace

void add_host_command(CLI::App& app) {
  auto o = std::make_shared<HostCommandOptions>();
  auto* cmd = app.add_subcommand(
      "host", "Run a share of a scenario's agents as virtual agents against a coordinator");
  cmd->add_option("--coordinator", o->coordinator, "the coordinator's endpoint, tcp://HOST:PORT")
      ->required();
  cmd->add_option("--scenario", o->scenario, "the scenario file the coordinator runs")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--host-index", o->host_index,
                  "this host's number, 0-based (default: $FP_HOST_INDEX, $SLURM_ARRAY_TASK_ID, "
                  "$JOB_COMPLETION_INDEX or 0)")
      ->check(fp::config::at_least(0));
  cmd->add_option("--hosts", o->hosts, "how many hosts share the agents (default: the scenario's)")
      ->check(fp::config::at_least(1));
  cmd->add_option("--seed", o->seed, "the run's seed, if it overrode the scenario's")
      ->check(fp::config::at_least(0));
  cmd->add_option("--individuals", o->individuals,
                  "the run's individual count, if it overrode the scenario's")
      ->check(fp::config::at_least(1));
  cmd->add_option("--workers", o->workers, "agents computing at once (default: the scenario's)")
      ->check(fp::config::at_least(1));
  cmd->add_option("--connected", o->connected, "agents connected at once (default: the scenario's)")
      ->check(fp::config::at_least(1));
  cmd->add_option("--threads-per-worker", o->threads, "LibTorch threads per computing agent")
      ->check(fp::config::at_least(1));
  cmd->add_option("--give-up-after", o->give_up_after,
                  "end (status 1) when an agent has found the coordinator unreachable this long, "
                  "e.g. 1h (0: never); a host left after its coordinator died retried for ever")
      ->capture_default_str();
  cmd->add_option("--work-dir", o->work_dir,
                  "the host's journal of finished agents; its agents' folders (private data, "
                  "model, where [hosting] private_data or downloads say \"file\") too with "
                  "[hosting] agent_folders = \"disk\" (else under /dev/shm)")
      ->capture_default_str();
  cmd->add_option("--stats-file", o->stats_file, "write the host's measurements here (JSON)");
  cmd->add_option("--key", o->key,
                  "this host's CURVE key pair without .pub/.key (hosting.security = curve)");
  cmd->add_option("--coordinator-key", o->coordinator_key,
                  "the coordinator's public key file (hosting.security = curve)");
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error")
      ->check(fp::config::log_level())
      ->capture_default_str();
  cmd->add_option("--parent-pid", o->parent_pid,
                  "stop (as on SIGTERM) when this process, the host's parent, ends");
  cmd->add_flag("--null-compute", o->null_compute,
                "answer tasks at once with fixed reports (benchmarks the framework alone)")
      ->group("");  // hidden: not for real runs
  cmd->callback([o] { throw CLI::RuntimeError(run_host(*o)); });
}

}  // namespace fp::sim
