// The coordinator's side of a scenario before serving: train the general model(s) on
// the general data (or take one trained already), register them, and create one campaign per
// variant (and, with leave_individual_out, per individual) with a task for every individual.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "coordinator/model_registry.h"
#include "simulation/scenario.h"
#include "store/run_store.h"
#include "store/store.h"

namespace fp::sim {

struct Population;  // simulation/population.h

struct PlannedCampaign {
  int64_t campaign_id = 0;
  std::string name, variant, left_out;
  std::string model_sha256;
};

struct CampaignPlan {
  std::vector<PlannedCampaign> campaigns;
  int64_t tasks = 0;
  int64_t models_trained = 0;
  double train_seconds = 0;
};

// A general model trained and registered before setup_campaigns(), which then ships it.
struct SharedGeneral {
  std::string sha256;
  double seconds = 0;                // training wall time
  std::vector<int64_t> classes;      // the classes picked for the population
  std::vector<double> class_scores;  // per-class accuracy the pick was made on
};

// Figure 2d's rule (scenario partition.best_classes = K, Fashion-MNIST): trains the
// general model everyone shares before the population exists (its data do not depend on
// the individuals), scores it per class on training images it did not train on
// (class_selection.h) and returns it with its K best-classified classes. The same seed
// gives the same model as setup_campaigns() would train. `stop`: as setup_campaigns().
Result<SharedGeneral> train_and_pick_classes(const Scenario& scenario,
                                             coord::ModelRegistry& registry,
                                             const std::function<void(const std::string&)>& log,
                                             const std::atomic<bool>* stop = nullptr);

// Campaigns are named "<scenario>[/<variant>][/<left-out individual>]" and recorded
// in sim_campaigns under `run_id`, each with its tasks in one transaction. `log` receives one
// line per step. Once `stop` turns true, training ends between batches and this returns
// Cancelled (campaigns made so far stay recorded). Campaigns `run_id` already records (a
// set-up stopped part way, then resumed) are kept, their general models not trained again,
// and only the rest made; a run holding other counts than `scenario` makes for `population`
// (made in pieces by an older fineprune, or edited) is an error.
Result<CampaignPlan> setup_campaigns(const Scenario& scenario, const Population& population,
                                     store::Store& store, coord::ModelRegistry& registry,
                                     store::RunStore& sim, int64_t run_id,
                                     const std::function<void(const std::string&)>& log,
                                     const SharedGeneral* trained = nullptr,
                                     const std::atomic<bool>* stop = nullptr);

// How many tasks each individual's agent takes: one per campaign it is part of.
int64_t tasks_per_individual(const Scenario& scenario);

// What setup_campaigns() makes for `individuals` individuals: a campaign per variant (per
// variant and left-out individual with leave_individual_out), a task per individual in each
// (only the left-out one's with leave_individual_out).
struct PlannedCounts {
  int64_t campaigns = 0, tasks = 0;
};
PlannedCounts planned_counts(const Scenario& scenario, int64_t individuals);

}  // namespace fp::sim
