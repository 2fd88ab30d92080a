// What `fp-sim run` hands its agent hosts: the run's CURVE keys (the coordinator's pair and
// one pair per host, in <out>/keys, each host's enrolled in the run's database) and, for
// host processes, their command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "security/keys.h"
#include "simulation/scenario.h"
#include "util/status.h"

namespace fp::store {
class Store;
}

namespace fp::sim {

// Ephemeral CURVE keys of one run, in <out>/keys: the coordinator's pair and one pair
// per agent host, each enrolled in the run's database as "host-<i>".
struct RunKeys {
  security::KeyPair coordinator;
  std::vector<security::KeyPair> hosts;
  std::string dir;
  std::string host_base(int64_t i) const { return dir + "/host-" + std::to_string(i); }
  std::string coordinator_public() const { return dir + "/coordinator.pub"; }
};

// The keys a resumed run made and enrolled when it began (they stay valid: its hosts hold
// copies).
Result<RunKeys> read_run_keys(const std::string& out_dir, int64_t hosts);
// New pairs for a new run, written to <out_dir>/keys, the hosts' enrolled in `store`.
Result<RunKeys> make_run_keys(const std::string& out_dir, int64_t hosts, store::Store& store);

// `fp-sim host` as a child process of the run: host `index` of the scenario's hosts, its
// agents' folders under `work_dir`, its measurements into `stats_file`.
std::vector<std::string> host_command_line(const std::string& exe, const Scenario& s,
                                           const std::string& scenario_path,
                                           const std::string& endpoint, int64_t index,
                                           const std::string& work_dir,
                                           const std::string& stats_file, const RunKeys& keys);

}  // namespace fp::sim
