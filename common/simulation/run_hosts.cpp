#include "simulation/run_hosts.h"

#include "store/store.h"
#include "util/clock.h"

namespace fp::sim {

Result<RunKeys> read_run_keys(const std::string& out_dir, int64_t hosts) {
  RunKeys keys;
  keys.dir = out_dir + "/keys";
  FP_ASSIGN_OR_RETURN(keys.coordinator, security::read_keypair(keys.dir + "/coordinator"));
  for (int64_t i = 0; i < hosts; ++i) {
    FP_ASSIGN_OR_RETURN(auto pair, security::read_keypair(keys.host_base(i)));
    keys.hosts.push_back(pair);
  }
  return keys;
}

Result<RunKeys> make_run_keys(const std::string& out_dir, int64_t hosts, store::Store& store) {
  RunKeys keys;
  keys.dir = out_dir + "/keys";
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

}  // namespace fp::sim
