// A host's compute meters (ComputeMeter) as figures in seconds: summed over a run's hosts,
// and written to and read from the stats file a child host leaves for `fp-sim run`, under
// one list of keys for both.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>

namespace fp::sim {

struct ComputeMeter;

struct ComputeTotals {
  int64_t tasks = 0, failures = 0;
  double compute_wall = 0, compute_cpu = 0, job_cpu = 0, load_wall = 0, wait_wall = 0;

  static ComputeTotals of(const ComputeMeter& m);
  ComputeTotals& operator+=(const ComputeTotals& o);

  // The host stats file's keys (docs/SIMULATIONS.md): "tasks", "compute_seconds", ...
  void write_to(nlohmann::json& j) const;
  // A key missing (an older host's file) reads as 0; one of the wrong type is an error
  // (nlohmann::json::type_error).
  static ComputeTotals read_from(const nlohmann::json& j);
};

}  // namespace fp::sim
