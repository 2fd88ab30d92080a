// A coordinator database for the networking benchmarks: recreated, holding one campaign on a
// model of given bytes, as a coordinator serving them needs it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "coordinator/model_registry.h"
#include "store/store.h"

namespace fp::bench {

struct BenchCampaign {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<coord::ModelRegistry> registry;  // over *store: declared after it
  int64_t campaign_id = 0;
  std::string model_sha256;
};

// A folder the benchmark recreates and deletes after: absent, empty or marked by an earlier
// run (a `.fp-bench-scratch` file, which this writes). Anything else throws naming it: a
// --dir naming the user's folder was deleted with everything in it.
void claim_scratch_folder(const std::string& dir, const std::string& option);

// Removes `db` (with its -wal and -shm files) and `models_dir`, then opens a fresh database
// with one campaign named `name` on a model of `model_bytes` (dataset "toy"). `tasks` > 0:
// tasks for the individuals "ind0", "ind1", ...; 0: the campaign is open to enrollment
// instead. Throws naming what failed (fp-bench prints it and exits 1), before anything is
// removed when `db` is no benchmark's database (every campaign on dataset "toy") or
// `models_dir` holds more than model files: a --db naming a coordinator's database replaced it.
BenchCampaign fresh_campaign(const std::string& db, const std::string& models_dir,
                             const std::string& name, const std::string& model_bytes,
                             int64_t tasks);

}  // namespace fp::bench
