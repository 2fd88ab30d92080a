// fp-bench <benchmark> [options]: runs one benchmark (bench/benchmarks.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "benchmarks.h"
#include "util/allocator.h"
#include "util/program_main.h"

namespace {

struct Benchmark {
  const char* name;
  int (*run)(int, char**);
  const char* what;
};

constexpr Benchmark kBenchmarks[] = {
    {"agent_load", fp::bench::agent_load, "a virtual agent's model and private data loads"},
    {"compact", fp::bench::compact, "compact models: parameters, MACs, bytes, latency"},
    {"dashboard_api", fp::bench::dashboard_api, "the dashboard's API over a store, no HTTP"},
    {"folder_stream", fp::bench::folder_stream, "a device folder of many files, streamed"},
    {"hostile_peers", fp::bench::hostile_peers, "non-reading peers against the coordinator"},
    {"model_fanout", fp::bench::model_fanout, "model downloads: throughput, coordinator memory"},
    {"personalize_cost", fp::bench::personalize_cost, "one individual: FP vs fine-tuning cost"},
    {"sim_campaign", fp::bench::sim_campaign, "a campaign of many virtual agents"},
    {"telemetry_ingest", fp::bench::telemetry_ingest, "telemetry reports per second into SQLite"},
    {"vs_pytorch", fp::bench::vs_pytorch, "the C++ side of bench/bench_vs_pytorch.py"},
};

void usage(std::FILE* out) {
  std::fprintf(out, "usage: fp-bench <benchmark> [options]   (fp-bench <benchmark> --help)\n\n");
  for (const auto& b : kBenchmarks) std::fprintf(out, "  %-17s %s\n", b.name, b.what);
}

}  // namespace

int main(int argc, char** argv) {
  fp::tune_allocator();  // as every fineprune program does
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "list")) {
    usage(stdout);
    return 0;
  }
  for (const auto& b : kBenchmarks) {
    if (std::strcmp(argv[1], b.name) != 0) continue;
    argv[1] = argv[0];  // the benchmark sees fp-bench's path as its argv[0]
    const std::string program = std::string("fp-bench ") + b.name;
    return fp::run_main(program.c_str(), [&] { return b.run(argc - 1, argv + 1); });
  }
  std::fprintf(stderr, "fp-bench: unknown benchmark '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
