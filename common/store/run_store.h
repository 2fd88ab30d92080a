// What a simulation adds to the coordinator's SQLite file, in tables of its own
// (sim_runs, sim_campaigns; the coordinator's schema is untouched): the scenario
// text and seed of each run, which campaign is which variant, and the run's
// measurements. So a finished run can be listed, re-reported and exported later.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.h"
#include "util/status.h"

namespace fp::store {

struct RunRecord {
  int64_t id = 0;
  std::string scenario;       // its name
  std::string scenario_toml;  // the whole file
  uint64_t seed = 0;
  double started_at = 0, finished_at = 0;
  std::string status = "running";  // "running", "done", "failed", "interrupted"
  std::string stats_json = "{}";   // wall time, memory, overhead (run_command.cpp)
};

struct RunCampaign {
  int64_t campaign_id = 0;
  int64_t run_id = 0;
  std::string variant;   // "" for the single configuration
  std::string left_out;  // the individual the general model never saw ("" : none)
};

class RunStore {
 public:
  // Creates the tables if needed. `store` must outlive this.
  static Result<RunStore> open(Store& store);
  // Without making its tables (a read-only or fp-coordinator database): NotFound "no
  // simulation run in <db> ..." when they are not there.
  static Result<RunStore> open_to_read(Store& store);

  Result<int64_t> add_run(const RunRecord& run);
  Status finish_run(int64_t id, const std::string& status, double at,
                    const std::string& stats_json);
  // Marks a run that did not finish as running again (fp-sim run --resume); its stats_json
  // (its last attempt's) stays until finish_run replaces it. An error for a run done, unless
  // `done_too` (its failed tasks were put back: --retry-failed).
  Status reopen_run(int64_t id, bool done_too = false);
  // Replaces a run's scenario text (e.g. with a pick the run made: best_classes).
  Status set_scenario_text(int64_t id, const std::string& scenario_toml);
  Result<std::vector<RunRecord>> runs();
  Result<RunRecord> run(int64_t id);  // 0: the latest

  Status add_campaign(const RunCampaign& campaign);
  Result<std::vector<RunCampaign>> campaigns(int64_t run_id);

 private:
  explicit RunStore(Store& store) : store_(&store) {}
  Store* store_;
};

}  // namespace fp::store
