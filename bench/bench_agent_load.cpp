// What a virtual agent's task spends before personalize(): loading its downloaded model
// artifact from a file and its private data file (simulation/sim_runner.cpp), per agent:
// what `[hosting] private_data` and `downloads = "file"` cost (memory is the default).
//
//   fp-bench agent_load --model <artifact.fpm> --samples 40 --loads 2000
#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>

#include "bench_util.h"
#include "benchmarks.h"
#include "config/cli_checks.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "simulation/population.h"
#include "util/clock.h"
#include "util/compute_threads.h"
#include "util/file_io.h"

int fp::bench::agent_load(int argc, char** argv) {
  CLI::App app{"Load a model artifact and a private data file, as a virtual agent does",
               "fp-bench agent_load"};
  std::string model_path;
  int64_t samples = 40, loads = 2000;
  app.add_option("--model", model_path, "model artifact (.fpm)")->required();
  app.add_option("--samples", samples, "the private data file's samples")
      ->check(fp::config::at_least(2))
      ->capture_default_str();
  app.add_option("--loads", loads, "loads of each")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  set_compute_threads(1);
  // Tried once first: a model that cannot be loaded aborted in the timing loop, unsaid.
  if (auto first = load_model(model_path); !first.ok()) {
    fmt::print(stderr, "--model: {}\n", first.status().to_string());
    return 1;
  }

  const std::string data_path =
      (std::filesystem::temp_directory_path() / fmt::format("fp_bench_private_{}.bin", getpid()))
          .string();
  fp::sim::PrivateData data;
  for (auto* d : {&data.adaptation, &data.evaluation}) {
    d->inputs = torch::rand({samples / 2, 1, 28, 28});
    d->labels = torch::zeros({samples / 2}, torch::kLong);
  }
  if (auto s = fp::sim::save_private_data(data, data_path); !s.ok()) {
    fmt::print(stderr, "{}\n", s.to_string());
    return 1;
  }
  auto time_it = [&](const char* what, auto&& load) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    for (int64_t i = 0; i < loads; ++i) load();
    fmt::print("{:<12} {:.3f} ms wall, {:.3f} ms CPU a load\n", what,
               1e3 * seconds_since(t0) / static_cast<double>(loads),
               1e3 * (thread_cpu_seconds() - c0) / static_cast<double>(loads));
  };
  bool failed = false;  // a file changed between loads: said after, the data file removed
  time_it("model", [&] {
    ArtifactInfo info;
    failed = failed || !load_model(model_path, &info).ok();
  });
  // In memory, as a virtual agent's download is by default; and a copy of a model parsed
  // before, as a host's cache of the models its agents downloaded gives each task.
  const std::string bytes = read_file(model_path, "model artifact").value();  // loaded above
  time_it("model, bytes", [&] { failed = failed || !deserialize_model(bytes).ok(); });
  const ModelPtr parsed = load_model(model_path).value();
  time_it("model, copy", [&] { failed = failed || clone_model(*parsed) == nullptr; });
  time_it("private data", [&] { failed = failed || !fp::sim::load_private_data(data_path).ok(); });
  std::filesystem::remove(data_path);
  if (failed) fmt::print(stderr, "a load failed during the timing: the times are not of loads\n");
  return failed ? 1 : 0;
}
