// The benchmarks of fp-bench, one function each (bench/<name>.cpp, results in
// docs/BENCHMARKS.md): `fp-bench <name> [options]` calls it with argv[0] fp-bench's own
// path and the options after the name. One program instead of one per benchmark: its
// sources compile in batches (cmake/TorchPch.cmake), which a fresh build feels.
#pragma once

namespace fp::bench {

int agent_load(int argc, char** argv);
int compact(int argc, char** argv);
int dashboard_api(int argc, char** argv);
int folder_stream(int argc, char** argv);
int hostile_peers(int argc, char** argv);
int model_fanout(int argc, char** argv);
int personalize_cost(int argc, char** argv);
int sim_campaign(int argc, char** argv);
int telemetry_ingest(int argc, char** argv);
int vs_pytorch(int argc, char** argv);

}  // namespace fp::bench
