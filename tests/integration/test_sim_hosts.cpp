// Agent hosts as separate processes: two `fp-sim host` processes over TCP loopback
// against one coordinator (the path a cluster takes), `fp-sim run` in "processes"
// mode, and the list / report / export commands on the finished run's database.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <thread>

#include "process_fixture.h"
#include "sim_scenarios.h"
#include "simulation/host_processes.h"
#include "simulation/population.h"
#include "simulation/simulation.h"
#include "store/run_store.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "temp_dir.h"
#include "test_paths.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;
using namespace fp::sim;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using fp::testing::kSim;
using fp::testing::TempDir;

const char* kHostsScenario = R"(
name = "duo"
seed = 3
[data]
general_samples = 1000
[partition]
individuals = 8
samples = 60
disjoint = false
[general]
width_mult = 0.25
threads = 1
[baselines]
methods = ["finetune"]
finetune_epochs = 1
[hosting]
hosts = 2
workers = 1
connected = 2
heartbeat_ms = 200
)";

// Runs a command line; returns (exit code, standard output).
std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST_CASE("two fp-sim host processes over TCP loopback serve one coordinator", "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario_path = dir.file("duo.toml");
  {
    std::ofstream f(scenario_path);
    f << kHostsScenario;
  }
  auto s = load_scenario(scenario_path);
  REQUIRE(s.ok());
  auto population = load_population(*s);
  REQUIRE(population.ok());

  // `fp-sim run` in external mode only coordinates, as on a cluster's head node; the
  // two hosts are separate processes that know nothing but the endpoint and the file.
  s->hosting.mode = HostingMode::kExternal;
  std::vector<fp::sim::ChildProcess> hosts;
  Status spawned;
  RunOptions o;
  o.out_dir = dir.file("run");
  o.progress = nullptr;
  o.on_listening = [&](const std::string& endpoint) {
    // Runs on the run's thread: no Catch assertions here.
    if (endpoint.rfind("tcp://127.0.0.1:", 0) != 0) spawned = Status::internal(endpoint);
    for (int i = 0; i < 2 && spawned.ok(); ++i) {
      std::string work = dir.file("host" + std::to_string(i));
      auto child =
          spawn_child({kSim, "host", "--coordinator", endpoint, "--scenario", scenario_path,
                       "--host-index", std::to_string(i), "--hosts", "2", "--work-dir", work,
                       "--stats-file", work + "/stats.json",
                       // CURVE (the scenario's default): the run made and enrolled host keys.
                       "--key", o.out_dir + "/keys/host-" + std::to_string(i), "--coordinator-key",
                       o.out_dir + "/keys/coordinator.pub"},
                      "host " + std::to_string(i), dir.file("host" + std::to_string(i) + ".log"));
      if (child.ok()) {
        hosts.push_back(*child);
      } else {
        spawned = child.status();
      }
    }
  };
  std::atomic<bool> stop{false};
  o.interrupt = &stop;
  std::optional<Result<RunOutcome>> outcome;
  std::thread running([&] { outcome = run_scenario(*s, o); });
  // A watchdog: a hung campaign fails the test instead of blocking CI.
  auto until = std::chrono::steady_clock::now() + 90s;
  while (!outcome && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  stop = true;
  running.join();
  for (auto& h : hosts) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!reap_child(h, false) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    if (!h.exited) {
      signal_child(h, SIGKILL);
      reap_child(h, true);
    }
  }
  INFO("host 0 log:\n"
       << fp::testing::read_file(dir.file("host0.log")) << "\nhost 1 log:\n"
       << fp::testing::read_file(dir.file("host1.log")));
  REQUIRE(spawned.ok());
  REQUIRE(hosts.size() == 2);
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->ok());
  INFO((*outcome)->detail);
  REQUIRE((*outcome)->status == "done");
  for (const auto& h : hosts) {
    CHECK(h.exit_code == 0);
    CHECK(h.peak_rss_bytes > 0);
  }

  // Every task done by the agent holding that individual; host 0 ran the even
  // individuals, host 1 the odd ones.
  auto store = store::Store::open((*outcome)->db_path);
  REQUIRE(store.ok());
  auto tasks = (*store)->tasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 8);
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < population->individuals.size(); ++i) {
    index_of[population->individuals[i].name] = i;
  }
  for (const auto& t : *tasks) {
    INFO(t.individual << ": " << t.error);
    CHECK(t.status == "done");
    CHECK(t.agent_id == agent_id(*s, index_of.at(t.individual)));
  }
  auto telemetry = (*store)->telemetry();
  REQUIRE(telemetry.ok());
  CHECK(telemetry->size() == 16);  // fine_prune + finetune each
  for (int i = 0; i < 2; ++i) {
    auto stats = nlohmann::json::parse(
        fp::testing::read_file(dir.file("host" + std::to_string(i) + "/stats.json")));
    CHECK(stats["host_index"] == i);
    CHECK(stats["agents"] == 4);
    CHECK(stats["finished"] == 4);
    CHECK(stats["tasks"] == 4);
    CHECK(stats["failed"] == 0);
    // Its four agents each downloaded and verified the general model; the host parsed it once.
    CHECK(stats["models_parsed"] == 1);
    // Its two slots' agents took turns on a connection each (a reconnect would add one).
    CHECK(stats["connections_opened"].get<int64_t>() >= 2);
    CHECK(stats["connections_opened"].get<int64_t>() < 4);
  }
  // Both hosts' agents joined the one coordinator over TCP.
  auto agents = (*store)->agents();
  REQUIRE(agents.ok());
  CHECK(agents->size() == 8);
}

namespace {

// The two-host scenario run by `fp-sim run` with its hosts as processes of `executable`,
// into dir/run (`o` gets the options it ran with).
fp::Result<RunOutcome> run_duo_in_processes(const TempDir& dir, const std::string& executable,
                                            RunOptions& o) {
  auto s = parse_scenario(kHostsScenario, "duo.toml");
  REQUIRE(s.ok());
  s->hosting.mode = HostingMode::kProcesses;
  o.out_dir = dir.file("run");
  o.progress = nullptr;
  o.executable = executable;
  auto outcome = run_scenario(*s, o);
  INFO(outcome.status().to_string());
  REQUIRE(outcome.ok());
  return outcome;
}

}  // namespace

TEST_CASE("fp-sim run with agent-host processes then list and report and export read it back",
          "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  RunOptions o;
  auto outcome = run_duo_in_processes(dir, kSim, o);
  INFO(outcome->detail);
  REQUIRE(outcome->status == "done");
  auto stats = nlohmann::json::parse(outcome->stats_json);
  REQUIRE(stats["processes"].size() == 3);  // this process (coordinator) + 2 hosts
  for (const auto& p : stats["processes"]) CHECK(p["peak_rss_mb"].get<double>() > 0);
  CHECK(stats["tasks_done"] == 8);
  CHECK(stats["compute_seconds"].get<double>() > 0);  // read from the hosts' stats files
  // A task's whole CPU on its compute thread holds personalize()'s and its loads'.
  CHECK(stats["job_cpu_seconds"].get<double>() > stats["compute_cpu_seconds"].get<double>());
  CHECK(stats["job_cpu_seconds"].get<double>() < stats["campaign_cpu_seconds"].get<double>());
  CHECK(stats["connections_opened"].get<int64_t>() >= 4);  // so are the connections
  CHECK(stats["connections_opened"].get<int64_t>() < 8);

  const std::string db = outcome->db_path;
  auto [list_rc, list] = shell(kSim + " list --db " + o.out_dir);
  CHECK(list_rc == 0);
  CHECK(list.find("duo") != std::string::npos);
  CHECK(list.find("done") != std::string::npos);

  auto [report_rc, report] = shell(kSim + " report --db " + db);
  CHECK(report_rc == 0);
  CHECK(report.find("run 1: scenario duo, seed 3, done") == 0);
  CHECK(report.find("accuracy gain") != std::string::npos);

  auto [csv_rc, csv] = shell(kSim + " export --db " + db + " --format csv");
  CHECK(csv_rc == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 9);
  CHECK(csv.rfind("run,scenario,variant,individual,agent_id,status", 0) == 0);

  std::string json_path = dir.file("out.json");
  auto [json_rc, ignored] = shell(kSim + " export --db " + db + " --format json -o " + json_path);
  CHECK(json_rc == 0);
  auto j = nlohmann::json::parse(fp::testing::read_file(json_path));
  CHECK(j["rows"].size() == 8);
  CHECK(j["run"]["status"] == "done");

  auto [missing_rc, missing] = shell(kSim + " report --db " + dir.file("nowhere") + " 2>&1");
  CHECK(missing_rc == 1);
  CHECK(missing.find("no run database at") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.file("nowhere")));  // and none was created

  // pool: one run is its own pool; a seed given twice would count its individuals twice.
  auto [pool_rc, pool] = shell(kSim + " pool --out " + dir.file("pooled") + " " + o.out_dir);
  CHECK(pool_rc == 0);
  const std::string pooled_csv = fp::testing::read_file(dir.file("pooled/pooled_comparisons.csv"));
  CHECK(pooled_csv.find("(default),fine_prune,general,8,") != std::string::npos);
  CHECK(fs::exists(dir.file("pooled/pooled_comparisons.md")));
  auto [twice_rc, twice] =
      shell(kSim + " pool --out " + dir.file("twice") + " " + o.out_dir + " " + db + " 2>&1");
  CHECK(twice_rc == 1);
  CHECK(twice.find("a second run of seed 3") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.file("twice")));
}

TEST_CASE("fp-sim run stops at once when an agent-host process dies, naming it and how", "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  // Host 0 is killed as it starts (SIGKILL: an out-of-memory kill, a node lost); host 1 runs.
  const std::string wrapper = dir.file("fp-sim-wrapper");
  std::ofstream(wrapper)
      << "#!/bin/sh\ncase \" $* \" in *\" --host-index 0 \"*) kill -9 $$;; esac\n"
      << "exec " << kSim << " \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  RunOptions o;
  auto outcome = run_duo_in_processes(dir, wrapper, o);
  CHECK(outcome->status == "failed");
  // Said at once, not as "every agent host ended" once the other host was done.
  CHECK(outcome->detail ==
        "host 0 was killed by signal 9 (Killed) before the campaign finished; "
        "its agents' tasks cannot finish (see " +
            dir.file("run") + "/hosts/0.log)");
  auto stats = nlohmann::json::parse(outcome->stats_json);
  CHECK(stats["tasks_done"].get<int64_t>() < 8);

  // Resumed with hosts that live, the failed run ends: every task done, each row once.
  auto recorded = recorded_run_scenario(o.out_dir);
  REQUIRE(recorded.ok());
  RunOptions again;
  again.out_dir = o.out_dir;
  again.progress = nullptr;
  again.executable = kSim;
  again.resume = true;
  auto resumed = run_scenario(*recorded, again);
  INFO(resumed.status().to_string());
  REQUIRE(resumed.ok());
  INFO(resumed->detail);
  CHECK(resumed->status == "done");
  auto store = store::Store::open(resumed->db_path);
  REQUIRE(store.ok());
  auto telemetry = (*store)->telemetry();
  REQUIRE(telemetry.ok());
  CHECK(telemetry->size() == 16);
  auto after = nlohmann::json::parse(resumed->stats_json);
  REQUIRE(after["earlier_attempts"].size() == 1);
  CHECK(after["earlier_attempts"][0]["status"] == "failed");
  CHECK(after["tasks_done"] == 8);
}

namespace {

// The pids of processes whose command line mentions `needle`.
std::vector<pid_t> processes_naming(const std::string& needle) {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = fp::testing::read_file(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

}  // namespace

namespace {

// The statistics `fp-sim run` recorded in the database under `out`.
nlohmann::json recorded_stats(const std::string& out) {
  auto db = store::Store::open(run_database(out));
  REQUIRE(db.ok());
  auto runs = store::RunStore::open(**db);
  REQUIRE(runs.ok());
  auto record = runs->run(0);
  REQUIRE(record.ok());
  return nlohmann::json::parse(record->stats_json);
}

// `fp-sim run` of kHostsScenario with agent-host processes, started as a child: its run
// folder `out`, its output in run.log.
fp::Result<fp::sim::ChildProcess> start_duo_run(const TempDir& dir, const std::string& out) {
  const std::string scenario = dir.file("duo.toml");
  std::ofstream(scenario) << kHostsScenario;
  return spawn_child({kSim, "run", scenario, "--mode", "processes", "--out", out, "--quiet"},
                     "fp-sim run", dir.file("run.log"));
}

}  // namespace

// A process of this program costs ~0.7 s of CPU to start (LibTorch's loading): `fp-sim run`
// forks its hosts from a copy of itself made as it started (simulation/host_zygote.h).
TEST_CASE("fp-sim run forks its agent hosts from a copy made at its start, or execs them",
          "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario = dir.file("duo.toml");
  std::ofstream(scenario) << kHostsScenario;
  for (const std::string start : {"", "FP_SIM_EXEC_HOSTS=1 "}) {
    INFO(start);
    const std::string out = dir.file(start.empty() ? "forked" : "executed");
    auto [rc, printed] = shell(start + kSim + " run " + scenario + " --mode processes --out " +
                               out + " --quiet 2>&1");
    INFO(printed);
    REQUIRE(rc == 0);
    const auto stats = recorded_stats(out);
    CHECK(stats["tasks_done"] == 8);
    std::map<std::string, nlohmann::json> by_role;
    for (const auto& p : stats["processes"]) by_role[p["role"].get<std::string>()] = p;
    for (const std::string host : {"host 0", "host 1"}) {
      REQUIRE(by_role.count(host) == 1);
      CHECK(by_role[host]["started"] == (start.empty() ? "forked" : "executed"));
      CHECK(by_role[host]["exit_code"] == 0);
      CHECK(by_role[host]["cpu_seconds"].get<double>() > 0);
    }
    // The zygote, reaped at the run's end with its CPU (its forks) counted in the run's.
    CHECK(by_role.count("host zygote") == (start.empty() ? 1u : 0u));
    if (start.empty()) {
      CHECK(by_role["host zygote"]["exit_code"] == 0);
      CHECK(by_role["host zygote"]["peak_rss_mb"].get<double>() > 0);
      double cpu = by_role["fp-sim run (coordinator)"]["campaign_cpu_seconds"].get<double>();
      for (const auto& p : stats["processes"]) cpu += p.value("cpu_seconds", 0.0);
      CHECK(stats["campaign_cpu_seconds"].get<double>() == Approx(cpu));
    }
  }
}

TEST_CASE("fp-sim run whose host zygote was killed starts its hosts as new processes", "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string out = dir.file("run");
  auto run = start_duo_run(dir, out);
  REQUIRE(run.ok());
  // Killed as soon as it shows, while the run trains its general model (about a second).
  const std::string zygote = "host zygote of " + std::to_string(run->pid);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::vector<pid_t> found;
  while ((found = processes_naming(zygote)).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  REQUIRE(found.size() == 1);
  REQUIRE(::kill(found[0], SIGKILL) == 0);
  deadline = std::chrono::steady_clock::now() + 120s;
  while (!reap_child(*run, false) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  if (!run->exited) signal_child(*run, SIGKILL);
  reap_child(*run, true);
  INFO(fp::testing::read_file(dir.file("run.log")));
  REQUIRE(run->exit_code == 0);
  const auto stats = recorded_stats(out);
  CHECK(stats["tasks_done"] == 8);
  int executed = 0;
  for (const auto& p : stats["processes"]) {
    if (p["role"] == "host zygote") CHECK(p["exit_code"] == 128 + SIGKILL);
    if (p.value("started", "") == "executed") ++executed;
  }
  CHECK(executed == 2);
}

TEST_CASE("a killed fp-sim run leaves no agent host behind, and goes on with --resume", "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string out = dir.file("run");
  auto run = start_duo_run(dir, out);
  REQUIRE(run.ok());
  // Killed outright once both hosts run (their command lines name their work folders).
  const std::string hosts_folder = out + "/hosts/";
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (processes_naming(hosts_folder).size() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  REQUIRE(processes_naming(hosts_folder).size() == 2);
  signal_child(*run, SIGKILL);
  reap_child(*run, true);
  // Its hosts end with it (asked for SIGTERM at their parent's death), not retry for ever.
  deadline = std::chrono::steady_clock::now() + 20s;
  while (!processes_naming(hosts_folder).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  CHECK(processes_naming(hosts_folder).empty());
  // Nor the copy of itself it forked them from (ended at its parent's death too).
  const std::string zygote = "host zygote of " + std::to_string(run->pid);
  while (!processes_naming(zygote).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  CHECK(processes_naming(zygote).empty());

  // Recorded as running: listed so while a process serves its database (its lock held) ...
  {
    auto lock = store::lock_database(run_database(out), "this test");
    REQUIRE(lock.ok());
    auto [served_rc, served] = shell(kSim + " list --db " + out);
    INFO(served);
    CHECK_THAT(served, Catch::Contains(" running ") && !Catch::Contains("did not finish"));
  }
  // ... and, served by nobody, as stopped, with the way on.
  auto [list_rc, listed] = shell(kSim + " list --db " + out);
  INFO(listed);
  CHECK(list_rc == 0);
  CHECK_THAT(listed, Catch::Contains(" stopped ") &&
                         Catch::Contains("run 1 did not finish (stopped): 'fp-sim run --resume "
                                         "--out " +
                                         out + "' goes on with it"));
  // Its report and export say so too (they said "running"; the report printed a line of
  // zeros for the statistics the killed run never wrote: "wall 0.0 s ... 0 process(es)").
  auto [report_rc, reported] =
      shell(kSim + " report --db " + out + " --out " + dir.file("report") + " 2>&1");
  INFO(reported);
  CHECK(report_rc == 0);
  CHECK_THAT(reported, Catch::Contains("seed 3, stopped") && !Catch::Contains("wall 0.0 s"));
  CHECK_THAT(fp::testing::read_file(dir.file("report/seed_run.json")),
             Catch::Contains("\"status\": \"stopped\""));
  auto [export_rc, exported] = shell(kSim + " export --db " + out + " --format json");
  CHECK(export_rc == 0);
  CHECK_THAT(exported, Catch::Contains("\"status\": \"stopped\""));
  // Its pending individuals, nothing measured, are not said to be evaluated (they were: true).
  CHECK_THAT(exported,
             Catch::Contains("\"evaluated\": null") && !Catch::Contains("\"evaluated\": true"));
  // Nor does an export replace the run's log.
  auto [over_rc, over] = shell(kSim + " export --db " + out + " -o " + out + "/fp-sim.log 2>&1");
  INFO(over);
  CHECK(over_rc != 0);
  CHECK_THAT(fp::testing::read_file(out + "/fp-sim.log"), !Catch::StartsWith("run,"));

  auto [rc, printed] = shell(kSim + " run --resume --out " + out + " --quiet 2>&1");
  INFO(printed);
  REQUIRE(rc == 0);
  auto store = store::Store::open(run_database(out));
  REQUIRE(store.ok());
  auto tasks = (*store)->tasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 8);
  for (const auto& t : *tasks) CHECK(t.status == "done");
  auto telemetry = (*store)->telemetry();
  REQUIRE(telemetry.ok());
  CHECK(telemetry->size() == 16);
  auto [after_rc, after] = shell(kSim + " list --db " + out);
  CHECK_THAT(after, Catch::Contains(" done ") && !Catch::Contains("did not finish"));
}

TEST_CASE("a host restarted on its own gives each agent only the tasks it has left", "[sim]") {
  // Two variants: each agent does two tasks. A host killed after an agent's first task ended
  // and started again (its share taken over on a cluster) ran that agent with both to do: it
  // did the one left and then held the host's only slot, waiting for a second, for ever.
  // Now the host journals each task's end; a line lost with the kill is made up for by the
  // coordinator, which tells an agent when no task is left on its data.
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario_path = dir.file("pair.toml");
  std::ofstream(scenario_path) << R"(
name = "pair"
seed = 4
[data]
general_samples = 1000
[partition]
individuals = 3
samples = 400
disjoint = false
[general]
width_mult = 0.25
threads = 1
[baselines]
methods = ["finetune"]
finetune_epochs = 3
[hosting]
mode = "external"
hosts = 1
workers = 1
connected = 1
heartbeat_ms = 100
liveness = 3
)" << fp::testing::kTwoVariants;
  auto s = load_scenario(scenario_path);
  REQUIRE(s.ok());
  const std::string work = dir.file("host0");
  RunOptions o;
  o.out_dir = dir.file("run");
  o.progress = nullptr;
  std::string endpoint;
  std::mutex endpoint_mutex;
  o.on_listening = [&](const std::string& e) {
    std::lock_guard<std::mutex> lock(endpoint_mutex);
    endpoint = e;
  };
  std::atomic<bool> stop{false};
  o.interrupt = &stop;
  std::optional<Result<RunOutcome>> outcome;
  std::atomic<bool> ended{false};
  std::thread running([&] {
    outcome = run_scenario(*s, o);
    ended = true;
  });
  auto host = [&](const std::string& log) {
    std::lock_guard<std::mutex> lock(endpoint_mutex);
    return spawn_child(
        {kSim, "host", "--coordinator", endpoint, "--scenario", scenario_path, "--host-index", "0",
         "--hosts", "1", "--work-dir", work, "--key", o.out_dir + "/keys/host-0",
         "--coordinator-key", o.out_dir + "/keys/coordinator.pub"},
        "host 0", log);
  };
  auto until = std::chrono::steady_clock::now() + 120s;
  auto in_time = [&] { return std::chrono::steady_clock::now() < until && !ended; };
  while (in_time() && [&] {
    std::lock_guard<std::mutex> lock(endpoint_mutex);
    return endpoint.empty();
  }())
    std::this_thread::sleep_for(10ms);
  auto first = host(dir.file("host0-first.log"));
  REQUIRE(first.ok());
  // Killed once the first agent's first task has ended (its host journals that) and before
  // its second has.
  const std::string first_agent = agent_id(*s, 0);
  const std::string journal = work + "/finished.log";
  auto journaled = [&](const std::string& line) {
    std::ifstream in(journal);
    for (std::string l; std::getline(in, l);)
      if (l == line) return true;
    return false;
  };
  while (in_time() && !journaled(first_agent + " 1")) std::this_thread::sleep_for(2ms);
  signal_child(*first, SIGKILL);
  reap_child(*first, true);
  INFO(fp::testing::read_file(dir.file("host0-first.log")));
  REQUIRE(journaled(first_agent + " 1"));
  REQUIRE_FALSE(journaled(first_agent));  // its second task had not ended
  // Or killed after the coordinator acknowledged that task's end and before the host wrote
  // its line: the restarted host gives the agent both tasks again, one too many. The
  // coordinator tells it that none is left on its data once it has done the other.
  const bool line_lost = GENERATE(false, true);
  if (line_lost) {
    std::string kept;
    std::ifstream in(journal);
    for (std::string l; std::getline(in, l);)
      if (l != first_agent + " 1") kept += l + "\n";
    in.close();
    std::ofstream(journal, std::ios::trunc) << kept;
  }

  auto second = host(dir.file("host0-second.log"));
  REQUIRE(second.ok());
  while (in_time()) std::this_thread::sleep_for(20ms);
  stop = true;  // a hung campaign fails below instead of blocking CI
  running.join();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!reap_child(*second, false) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  if (!second->exited) {
    signal_child(*second, SIGKILL);
    reap_child(*second, true);
  }
  INFO(fp::testing::read_file(dir.file("host0-second.log")));
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->ok());
  INFO((*outcome)->detail);
  REQUIRE((*outcome)->status == "done");
  CHECK(second->exit_code == 0);
  auto store = store::Store::open((*outcome)->db_path);
  REQUIRE(store.ok());
  auto tasks = (*store)->tasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 6);
  for (const auto& t : *tasks) CHECK(t.status == "done");
  CHECK((*store)->telemetry()->size() == 12);  // fine_prune + finetune of each, once
  // Restarted, the first agent closed one task (its second) and left the slot to the others.
  const std::string restarted = fp::testing::read_file(dir.file("host0-second.log"));
  const std::regex closed("agent " + first_agent + ": task [0-9]+ closed");
  CHECK(std::distance(std::sregex_iterator(restarted.begin(), restarted.end(), closed),
                      std::sregex_iterator()) == 1);
  CHECK((restarted.find("agent " + first_agent + ": no task left for it") != std::string::npos) ==
        line_lost);
}

// A shell's soft limit on open files (often 1,024, here 64) is raised to the hard one by
// fp-sim itself, as the coordinator does: 40 connected agents aborted the run ("eventfd: Too
// many open files", exit 134), leaving it recorded as running.
TEST_CASE("fp-sim run raises a low soft limit on open files to the hard one", "[sim]") {
  REQUIRE(fs::exists(kSim));
  rlimit lim{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 1024) {
    WARN("hard limit on open files below 1024: not tried");
    return;
  }
  TempDir dir;
  std::ofstream(dir.file("fd.toml"))
      << "name = \"fd\"\nseed = 7\n[data]\ndataset = \"fashion-mnist\"\ngeneral_samples = 500\n"
         "[partition]\nmethod = \"k_classes\"\nindividuals = 40\nk = 2\nsamples = 20\n"
         "[general]\narch = \"cnn\"\nwidth_mult = 0.25\nepochs = 1\nthreads = 2\n"
         "[baselines]\nmethods = []\n"
         "[hosting]\nmode = \"in-process\"\nworkers = 2\nconnected = 40\nheartbeat_ms = 500\n";
  auto [rc, out] = shell("bash -c 'ulimit -Sn 64 && exec " + kSim + " run " + dir.file("fd.toml") +
                         " --out " + dir.file("run") + " --quiet' 2>&1");
  INFO(out);
  CHECK(rc == 0);
  CHECK(out.find("40 done, 0 failed") != std::string::npos);
}
