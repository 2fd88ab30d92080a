// A campaign of many virtual agents on this machine (default: 1000, from
// simulations/scenarios/bench_1000.toml), run twice:
//   1. with real Fine-Pruning (and the scenario's baselines) on every agent;
//   2. with agents that answer at once (NullRunner), which times the framework alone:
//      hosts, private data files, model downloads, coordinator and SQLite.
// Prints wall time, the share of it spent outside the agents' own compute, the peak
// memory of every process and telemetry messages per second into SQLite.
//
//   build/bench/fp-bench sim_campaign [--individuals 1000] [--mode processes] [--hosts 2]
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "benchmarks.h"
#include "config/cli_checks.h"
#include "simulation/simulation.h"
#include "source_paths.h"

namespace {

struct Options {
  std::string scenario = std::string(FP_SOURCE_DIR) + "/simulations/scenarios/bench_1000.toml";
  std::string out = "/tmp/fp-bench-sim";
  std::string fp_sim = std::string(FP_BINARY_DIR) + "/simulations/fp-sim";
  std::string mode;
  int64_t individuals = 0, hosts = 0, workers = 0, connected = 0;
  bool skip_real = false, skip_null = false;
};

void print(const char* label, const std::string& stats_json) {
  auto j = nlohmann::json::parse(stats_json);
  fmt::print("\n== {} ==\n", label);
  fmt::print(
      "agents {} ({} tasks done, {} failed), {} {} host(s) x {} worker(s), {} connected/host\n",
      j["individuals"].get<int64_t>(), j["tasks_done"].get<int64_t>(),
      j["tasks_failed"].get<int64_t>(), j["hosts"].get<int64_t>(), j["hosting"].get<std::string>(),
      j["workers_per_host"].get<int64_t>(), j["connected_per_host"].get<int64_t>());
  fmt::print(
      "wall {:.1f} s = setup {:.1f} s (data, general model: {:.1f} s training) + campaign "
      "{:.1f} s\n",
      j["wall_seconds"].get<double>(), j["setup_seconds"].get<double>(),
      j["train_seconds"].get<double>(), j["campaign_seconds"].get<double>());
  fmt::print(
      "agents' compute: {:.1f} s wall, {:.1f} s CPU inside personalize(); loading data "
      "and models {:.1f} s\n",
      j["compute_seconds"].get<double>(), j["compute_cpu_seconds"].get<double>(),
      j["load_seconds"].get<double>());
  fmt::print(
      "campaign CPU, all processes: {:.1f} s -> framework overhead {:.1f}% of CPU; "
      "{:.1f}% of worker time (workers x campaign wall) outside personalize()\n",
      j["campaign_cpu_seconds"].get<double>(), 100 * j["overhead_cpu_share"].get<double>(),
      100 * j["overhead_wall_share"].get<double>());
  double campaign = j["campaign_seconds"].get<double>();
  fmt::print("telemetry: {} rows, {:.1f} rows/s into SQLite; {:.1f} agents/s\n",
             j["telemetry_rows"].get<int64_t>(), j["telemetry_per_second"].get<double>(),
             campaign > 0 ? j["tasks_done"].get<double>() / campaign : 0.0);
  for (const auto& p : j["processes"]) {
    fmt::print("  process {:<40} peak RSS {:>7.1f} MB\n", p["role"].get<std::string>(),
               p["peak_rss_mb"].get<double>());
  }
  fmt::print("  all processes together                        {:>7.1f} MB\n",
             j["peak_rss_total_mb"].get<double>());
}

int run(const Options& o) {
  auto loaded = fp::sim::load_scenario(o.scenario);
  if (!loaded.ok()) {
    fmt::print(stderr, "{}\n", loaded.status().to_string());
    return 2;
  }
  fp::sim::Scenario s = std::move(loaded).value();
  if (o.individuals > 0) s.partition.num_individuals = o.individuals;
  if (o.hosts > 0) s.hosting.hosts = o.hosts;
  if (o.workers > 0) s.hosting.workers = o.workers;
  if (o.connected > 0) s.hosting.connected = o.connected;
  if (o.mode == "in-process") s.hosting.mode = fp::sim::HostingMode::kInProcess;
  if (o.mode == "processes") s.hosting.mode = fp::sim::HostingMode::kProcesses;

  for (bool null_compute : {false, true}) {
    if (null_compute ? o.skip_null : o.skip_real) continue;
    fp::sim::RunOptions ro;
    ro.out_dir = o.out + (null_compute ? "/null" : "/real");
    ro.fresh = true;
    ro.executable = o.fp_sim;
    ro.progress = stdout;
    ro.log_level = "warn";
    ro.null_compute = null_compute;
    auto outcome = fp::sim::run_scenario(s, ro);
    if (!outcome.ok()) {
      fmt::print(stderr, "{}\n", outcome.status().to_string());
      return 1;
    }
    print(null_compute ? "framework alone (agents answer at once)" : "real Fine-Pruning",
          outcome->stats_json);
    if (outcome->status != "done") {
      fmt::print(stderr, "run {}: {}\n", outcome->status, outcome->detail);
      return 1;
    }
  }
  return 0;
}

}  // namespace

int fp::bench::sim_campaign(int argc, char** argv) {
  CLI::App app{"Benchmark: a campaign of many virtual agents, with and without compute",
               "fp-bench sim_campaign"};
  Options o;
  app.add_option("--scenario", o.scenario, "scenario file")->capture_default_str();
  app.add_option("--out", o.out, "run directories go under here")->capture_default_str();
  app.add_option("--fp-sim", o.fp_sim, "the fp-sim program (agent-host processes)")
      ->capture_default_str();
  app.add_option("--individuals", o.individuals, "override the number of agents")
      ->check(fp::config::at_least(1));
  app.add_option("--mode", o.mode, "in-process or processes")
      ->check(CLI::IsMember({"in-process", "processes"}));
  app.add_option("--hosts", o.hosts, "agent hosts")->check(fp::config::at_least(1));
  app.add_option("--workers", o.workers, "computing agents per host")
      ->check(fp::config::at_least(1));
  app.add_option("--connected", o.connected, "connected agents per host")
      ->check(fp::config::at_least(1));
  app.add_flag("--skip-real", o.skip_real, "only the framework-alone campaign");
  app.add_flag("--skip-null", o.skip_null, "only the real campaign");
  CLI11_PARSE(app, argc, argv);
  return run(o);
}
