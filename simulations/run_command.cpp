// fp-sim run SCENARIO: the whole campaign on this machine, then its results table.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "config/cli_checks.h"
#include "coordinator/bind_check.h"
#include "dashboard/dashboard.h"
#include "dashboard/http_server.h"
#include "report/experiment_report.h"
#include "report/run_results.h"
#include "security/keys.h"
#include "sim_commands.h"
#include "simulation/run_check.h"
#include "simulation/scenario_overrides.h"
#include "simulation/sim_server_config.h"
#include "simulation/simulation.h"
#include "store/serve_lock.h"
#include "util/descriptor_limit.h"
#include "util/file_io.h"

namespace fp::sim {

using report::format_summary;
using report::format_table;
using report::read_results;
using report::write_experiment_report;
namespace {

struct RunCommandOptions {
  std::string scenario, out_dir, mode, log_level = "info";
  std::string http_address = "127.0.0.1";
  std::string report_dir;       // write the experiment report here at the end
  std::string endpoint_file;    // write the bound endpoint here once listening
  ScenarioOverrides overrides;  // the scenario's settings the flags change (mode: from `mode`)
  int64_t http_port = -1;       // -1: no dashboard
  bool fresh = false, resume = false, retry_failed = false, quiet = false, exit_when_done = false;
  bool check = false;
  size_t table_rows = 0;
};

// The first SIGINT / SIGTERM stops the run in order (the run is recorded as interrupted):
// training a general model stops at its next batch, a campaign once its hosts are told; a
// second signal ends the process at once. One that comes within kSameStopNs of the first is
// the same request delivered twice: `timeout` (and other supervisors) signal the process
// and then its process group, and used to end the run unrecorded.
constexpr int64_t kSameStopNs = 250'000'000;
std::atomic<bool> g_interrupted{false};
std::atomic<int64_t> g_first_signal_ns{0};
static_assert(std::atomic<int64_t>::is_always_lock_free, "used in a signal handler");
extern "C" void on_run_signal(int sig) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  const int64_t now = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  int64_t first = 0;
  if (g_first_signal_ns.compare_exchange_strong(first, now)) {
    g_interrupted = true;
    return;
  }
  if (now - first < kSameStopNs) return;
  signal(sig, SIG_DFL);
  raise(sig);
}

// The scenario to run: the file with the flags' overrides applied, or, with --resume, the
// one the run folder's run recorded (then neither a file nor an override may be given: the
// run goes on as it began).
Result<Scenario> scenario_to_run(RunCommandOptions o) {
  if (!o.mode.empty()) o.overrides.mode = parse_hosting_mode(o.mode);  // CLI11 checked it
  if (o.retry_failed && !o.resume)
    return Status::invalid_argument("--retry-failed goes with --resume --out RUN_FOLDER");
  if (o.resume) {
    if (!o.scenario.empty() || o.overrides.any()) {
      return Status::invalid_argument(
          "--resume goes on with the scenario and settings the run recorded: give it no "
          "scenario file and none of --seed, --individuals, --mode, --endpoint, --hosts, "
          "--workers, --connected, --methods");
    }
    if (o.fresh) return Status::invalid_argument("--resume and --fresh exclude each other");
    if (o.out_dir.empty()) return Status::invalid_argument("--resume needs --out, the run folder");
    RunOptions folder;  // the folder first: one whose run stopped in its set-up has no scenario
    folder.out_dir = o.out_dir;
    folder.resume = true;
    folder.retry_failed = o.retry_failed;
    FP_RETURN_IF_ERROR(check_run_folder(folder));
    return recorded_run_scenario(o.out_dir, o.retry_failed);
  }
  if (o.scenario.empty())
    return Status::invalid_argument("a scenario file is required (or --resume --out RUN_FOLDER)");
  FP_ASSIGN_OR_RETURN(Scenario s, load_scenario(o.scenario));
  // Each flag given is applied and noted (Scenario::overrides), so the run records it.
  FP_RETURN_IF_ERROR(apply_overrides(s, o.overrides));
  FP_RETURN_IF_ERROR(check_protected_layers(s));  // a scenario error: before the folder's
  return s;
}

// What the run binds, tried and released with serve --check's own check: a port in use or
// an ipc:// path in a missing folder failed the run after its training (the check said ready).
Status check_binds(const Scenario& s, const std::string& http_address, int64_t http_port) {
  coord::ServerConfig sc = server_config_for(s);
  if (!sc.security.plain) {  // the run makes its pair at the start: a throwaway one is tried
    FP_ASSIGN_OR_RETURN(sc.security.own, security::generate_keypair());
  }
  FP_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::open(":memory:"));
  coord::ModelRegistry registry("", *store);
  Status dashboard = Status::ok_status();
  Status bound = coord::check_server_bind(sc, *store, registry, [&] {
    if (http_port > 0)
      dashboard = dash::HttpServer::check_bindable({http_address, static_cast<uint16_t>(http_port)})
                      .with_context("--http-port: ");
    return dashboard;
  });
  return dashboard.ok() ? bound.with_context("hosting.endpoint: ") : dashboard;
}

// It is written once the run listens: named as a database, a model or the scenario, it
// replaced that; named as the run folder (or the report's), the run made that folder first,
// said "cannot write the endpoint file" and went on, and hosts waiting for it never started.
Status check_endpoint_file(const RunCommandOptions& o, const std::string& out_dir) {
  FP_RETURN_IF_ERROR(check_later_output(o.endpoint_file, "--endpoint-file",
                                        {o.scenario, out_dir + "/scenario.toml"}));
  std::error_code ec;
  const auto same = [&](const std::string& folder) {
    return !folder.empty() && std::filesystem::weakly_canonical(o.endpoint_file, ec) ==
                                  std::filesystem::weakly_canonical(folder, ec);
  };
  if (same(out_dir) || same(o.report_dir))
    return Status::invalid_argument("--endpoint-file " + o.endpoint_file + " is the " +
                                    (same(out_dir) ? "run" : "report") +
                                    " folder; name a file (e.g. " + o.endpoint_file + ".endpoint)");
  return Status::ok_status();
}

// fp-run --check: what the run would do, or what would stop it, and nothing run or written.
int check_run(const Scenario& s, const RunOptions& ro, const RunCommandOptions& o) {
  Status folder = check_no_run_going(ro.out_dir);
  if (folder.ok()) folder = check_run_folder(ro);
  if (folder.ok() && ro.resume) folder = check_resumable(ro);
  if (folder.ok()) folder = check_binds(s, o.http_address, o.http_port);
  auto lines = folder.ok() ? describe_run(s) : Result<std::vector<std::string>>(folder);
  if (!lines.ok()) {
    fmt::print(stderr, "error: {}\n", lines.status().to_string());
    return 2;
  }
  fmt::print("ready: scenario {} ({}), seed {}, {} run in {}\n", s.name, s.source, s.seed,
             ro.resume ? "the unfinished" : "a new", ro.out_dir);
  for (const auto& line : *lines) fmt::print("  {}\n", line);
  // The run's copy edited by hand: --resume does not take it (the run sets it aside).
  if (ro.resume && scenario_copy_edited(ro.out_dir, s.text))
    fmt::print(
        "  {}/scenario.toml was edited since the run began: --resume goes on with the scenario "
        "the run recorded, and keeps the edit as scenario.edited.toml\n",
        ro.out_dir);
  return 0;
}

int run_run(const RunCommandOptions& o) {
  raise_descriptor_limit();  // a connection per agent: a shell's 1,024 aborted runs
  auto loaded = scenario_to_run(o);
  if (!loaded.ok()) {
    fmt::print(stderr, "error: {}\n", loaded.status().to_string());
    return 2;
  }
  Scenario s = std::move(loaded).value();

  RunOptions ro;
  ro.out_dir = o.out_dir.empty() ? "runs/" + s.name : o.out_dir;
  if (!o.endpoint_file.empty()) {
    // It is written once the run listens: named as a database, a model or the scenario, it
    // replaced that.
    if (Status target = check_endpoint_file(o, ro.out_dir); !target.ok()) {
      fmt::print(stderr, "error: {}\n", target.to_string());
      return 2;
    }
  }
  ro.fresh = o.fresh;
  ro.resume = o.resume;
  ro.retry_failed = o.retry_failed;
  if (o.check) return check_run(s, ro, o);
  // A fixed port another program holds failed the run after its training (recorded failed:
  // a rerun then needed --resume); tried now, as --check tries it.
  if (Status bound = check_binds(s, o.http_address, o.http_port); !bound.ok()) {
    fmt::print(stderr, "error: {}\n", bound.to_string());
    return 2;
  }
  ro.progress = o.quiet ? nullptr : stdout;
  ro.interactive = !o.quiet && ::isatty(STDOUT_FILENO);
  ro.log_level = o.log_level;
  ro.interrupt = &g_interrupted;
  signal(SIGINT, on_run_signal);
  signal(SIGTERM, on_run_signal);
  // The dashboard reads the run's database beside the coordinator (WAL) from the start,
  // so agents and results appear while the campaign runs.
  std::unique_ptr<dash::Dashboard> dashboard;
  if (o.http_port >= 0 || !o.endpoint_file.empty()) {
    ro.on_database = [&](const std::string& db) -> Status {
      // A previous run's endpoint file, once this run holds the folder: hosts waiting for
      // the file (Slurm, Kubernetes) took it for this run's and met no coordinator there.
      std::error_code ec;
      // A file only: --endpoint-file /dev/full removed the device (as root).
      if (!o.endpoint_file.empty() &&
          std::filesystem::is_regular_file(std::filesystem::symlink_status(o.endpoint_file, ec)) &&
          std::filesystem::remove(o.endpoint_file, ec))
        spdlog::info("removed {}, a previous run's endpoint file", o.endpoint_file);
      if (o.http_port < 0) return Status::ok_status();
      FP_ASSIGN_OR_RETURN(dashboard, dash::Dashboard::start(
                                         {db, o.http_address, static_cast<uint16_t>(o.http_port)}));
      fmt::print("dashboard: {}\n", dashboard->url());
      std::fflush(stdout);
      return Status::ok_status();
    };
  }
  // External hosts (Slurm job arrays) learn the port of "tcp://0.0.0.0:*" from this file.
  Status endpoint_written = Status::ok_status();
  if (!o.endpoint_file.empty()) {
    ro.on_listening = [&](const std::string& endpoint) {
      // A file replaced whole (a reader never sees half of it), a device (/dev/stdout)
      // written as it is.
      endpoint_written = write_output(o.endpoint_file, endpoint + "\n", "--endpoint-file");
      if (!endpoint_written.ok()) spdlog::error("{}", endpoint_written.to_string());
    };
  }
  auto outcome = run_scenario(s, ro);
  if (!outcome.ok()) {
    std::fflush(stdout);
    if (outcome.status().code() == Status::Code::kCancelled) {  // a signal during the set-up
      fmt::print(stderr, "run interrupted: {}\n", outcome.status().message());
      return 130;
    }
    fmt::print(stderr, "error: {}\n", outcome.status().to_string());
    return 1;
  }
  auto store = store::Store::open(outcome->db_path);
  if (!store.ok()) {
    fmt::print(stderr, "error: {}\n", store.status().to_string());
    return 1;
  }
  auto results = read_results(**store, outcome->run_id);
  if (!results.ok()) {
    fmt::print(stderr, "error: {}\n", results.status().to_string());
    return 1;
  }
  fmt::print("\n{}\n{}\n{}", format_table(*results, o.table_rows), format_summary(*results),
             report::format_run_stats(outcome->stats_json));
  fmt::print("results: {} (fp-sim report/export --db {})\n", outcome->db_path, outcome->db_path);
  if (!o.report_dir.empty()) {
    auto written = write_experiment_report(**store, *results, o.report_dir);
    if (!written.ok()) {
      fmt::print(stderr, "error: {}\n", written.status().to_string());
      return 1;
    }
    fmt::print("report: {} file(s) in {} (summary.md, figures *.svg)\n", written->size(),
               o.report_dir);
  }
  if (dashboard && outcome->status != "interrupted" && !o.exit_when_done) {
    fmt::print("dashboard: {} (still serving the results; Ctrl-C to stop)\n", dashboard->url());
    std::fflush(stdout);
    while (!g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!endpoint_written.ok()) {  // logged when it failed; its hosts never learned the port
    std::fflush(stdout);
    fmt::print(stderr, "error: {}\n", endpoint_written.to_string());
    return 1;
  }
  if (outcome->status != "done") {
    // Its campaigns exist: what is left can run later.
    std::fflush(stdout);  // the table first: one file may take both (a Slurm job's log)
    fmt::print(stderr, "run {}: {}\n(the tasks not done run with: fp-sim run --resume --out {})\n",
               outcome->status, outcome->detail, ro.out_dir);
    return outcome->status == "interrupted" ? 130 : 1;
  }
  // A run whose every task failed measured nothing (a setting every device refuses, say):
  // scripts and CI must not take it for a result.
  const auto failed = [](const report::IndividualRow& r) { return r.status == "failed"; };
  if (!results->rows.empty() && std::all_of(results->rows.begin(), results->rows.end(), failed)) {
    fmt::print(stderr, "error: every one of the {} task(s) failed; the first: {}\n",
               results->rows.size(), results->rows.front().error);
    return 1;
  }
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunCommandOptions>();
  auto* cmd = app.add_subcommand(
      "run", "Run a scenario: coordinator, agents, progress, then the per-individual table");
  cmd->add_option("scenario", o->scenario,
                  "scenario file (TOML, see simulations/scenarios/); none with --resume")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out_dir, "run directory (default: runs/<scenario name>)")
      ->check(fp::config::non_empty());
  cmd->add_flag("--fresh", o->fresh,
                "delete what an earlier run wrote in --out first (its database, scenario copy, "
                "log, models, keys, hosts); other files there stay");
  cmd->add_flag("--check", o->check,
                "read the scenario and its data, draw its individuals, and say what the run "
                "would do (individuals, general models, campaigns, tasks, methods, hosting), or "
                "what would stop it; nothing trained, written or served (0 ready, 2 not)");
  cmd->add_flag("--resume", o->resume,
                "go on with the unfinished run in --out (interrupted, failed or killed): its "
                "recorded scenario and settings, its models and campaigns, the tasks not done");
  cmd->add_flag("--retry-failed", o->retry_failed,
                "with --resume: run the run's failed tasks again too (attempts and error "
                "cleared; a done run with failed tasks included)");
  cmd->add_option("--seed", o->overrides.seed, "override the scenario's seed")
      ->check(fp::config::at_least(0));
  cmd->add_option("--individuals", o->overrides.individuals, "override partition.individuals")
      ->check(fp::config::at_least(1));
  cmd->add_option("--mode", o->mode, "override hosting.mode")
      ->check(CLI::IsMember({"in-process", "processes", "external"}));
  cmd->add_option("--endpoint", o->overrides.endpoint,
                  "override hosting.endpoint (external hosts: tcp://0.0.0.0:5555)");
  cmd->add_option("--endpoint-file", o->endpoint_file,
                  "write the coordinator's bound endpoint (e.g. tcp://0.0.0.0:41234) to this "
                  "file once it listens")
      ->check(fp::config::non_empty());
  cmd->add_option("--hosts", o->overrides.hosts, "override hosting.hosts")
      ->check(fp::config::at_least(1));
  cmd->add_option("--workers", o->overrides.workers, "override hosting.workers")
      ->check(fp::config::at_least(1));
  cmd->add_option("--methods", o->overrides.methods,
                  "override baselines.methods: a comma-separated list (e.g. svd,em_prior), or "
                  "none for Fine-Pruning alone");
  cmd->add_option("--connected", o->overrides.connected, "override hosting.connected")
      ->check(fp::config::at_least(1));
  cmd->add_option("--table-rows", o->table_rows, "print at most this many rows (0: all)")
      ->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "level of <out>/fp-sim.log")
      ->check(fp::config::log_level())
      ->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "no progress output");
  cmd->add_option("--report", o->report_dir,
                  "write the experiment report (tables as CSV and Markdown, SVG figures) here")
      ->check(fp::config::non_empty());
  cmd->add_option("--http-port", o->http_port,
                  "serve the web dashboard on this port while the campaign runs, and after "
                  "it until Ctrl-C (0: a free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--http-address", o->http_address, "address the dashboard binds")
      ->capture_default_str();
  cmd->add_flag("--exit-when-done", o->exit_when_done,
                "with --http-port: stop serving when the campaign ends (without it, the run "
                "ends with its campaign anyway)");
  cmd->callback([o] { throw CLI::RuntimeError(run_run(*o)); });
}

}  // namespace fp::sim
