// `fp-sim run` as a library call: one scenario from start to finished results.
//
//   1. the run directory: fp.db (SQLite), models/, scenario.toml, fp-sim.log, hosts/
//   2. the population (deterministic partition), the general model(s), the campaigns
//   3. a coordinator (fp::coord::Server) on its own thread, bound to hosting.endpoint
//   4. agent hosts: threads of this process ("in-process") or `fp-sim host` child
//      processes ("processes"); each materializes its agents' private data itself
//   5. progress until every task is done or failed, then the measurements into
//      sim_runs.stats_json
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <string>

#include "simulation/scenario.h"
#include "util/status.h"

namespace fp::sim {

struct RunOptions {
  std::string out_dir;  // the run directory
  bool fresh = false;   // delete out_dir's run entries first (is_run_entry; other files stay);
                        // otherwise a directory with a run is an error
  // Go on with the unfinished run in out_dir (its last; interrupted, failed, or killed while
  // running) rather than start one: its models, campaigns, keys and hosts' journals are
  // kept, the tasks not done are run, the run's row records the attempt. The scenario
  // must be the one it recorded (recorded_run_scenario). A run that stopped before its
  // campaigns were all made cannot be resumed (start it over with fresh).
  bool resume = false;
  // With resume: the run's failed tasks are run again too (Store::retry_failed_tasks), and a
  // done run with failed tasks may be resumed for them.
  bool retry_failed = false;
  std::string executable;          // fp-sim, for "processes" hosting (default: this program)
  std::FILE* progress = stdout;    // nullptr: no progress output
  bool interactive = false;        // redraw a progress bar in place
  std::string log_level = "info";  // of out_dir/fp-sim.log
  const std::atomic<bool>* interrupt = nullptr;  // turns true to stop early (SIGINT)
  bool null_compute = false;  // agents answer at once (NullRunner): the framework's own cost
  // Called with the coordinator's bound endpoint once it serves (e.g. to start
  // external hosts against a port picked by the system).
  std::function<void(const std::string&)> on_listening;
  // Called with the run's SQLite file once it exists, before any training (e.g. to serve
  // the dashboard over it while the campaign runs).
  // An error from it stops the run before it starts.
  std::function<Status(const std::string&)> on_database;
};

struct RunOutcome {
  int64_t run_id = 0;
  std::string db_path;
  std::string status;      // "done", "failed", "interrupted"
  std::string detail;      // why, when not done
  std::string stats_json;  // as stored in sim_runs
};

Result<RunOutcome> run_scenario(const Scenario& scenario, const RunOptions& options);

// The scenario the last run in `out_dir` recorded, with the overrides it noted applied
// again: what `resume` runs. An error when the folder holds no run, or its last is done
// (with `retry_failed`: done with no failed task).
Result<Scenario> recorded_run_scenario(const std::string& out_dir, bool retry_failed = false);

// The database file of a run directory.
std::string run_database(const std::string& out_dir);

// What a run writes into its directory, by name (the database with its journal files, the
// scenario copy, the log, models, keys and the hosts' journals): all that `--fresh` deletes.
// Anything else there (a user's notes, a Slurm job's logs, a report made into the folder)
// stays.
bool is_run_entry(const std::string& name);

}  // namespace fp::sim
