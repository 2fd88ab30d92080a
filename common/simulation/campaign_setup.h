// The coordinator's side of a scenario before serving: train the general model(s) on
// the general data, register them, and create one campaign per variant (and, with
// leave_individual_out, per individual) with a task for every individual.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "coordinator/model_registry.h"
#include "simulation/population.h"
#include "simulation/scenario.h"
#include "simulation/sim_store.h"
#include "store/store.h"

namespace fp::sim {

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

// Campaigns are named "<scenario>[/<variant>][/<left-out individual>]" and recorded
// in sim_campaigns under `run_id`. `log` receives one line per step.
Result<CampaignPlan> setup_campaigns(const Scenario& scenario, const Population& population,
                                     store::Store& store, coord::ModelRegistry& registry,
                                     SimStore& sim, int64_t run_id,
                                     const std::function<void(const std::string&)>& log);

// How many tasks each individual's agent takes: one per campaign it is part of.
int64_t tasks_per_individual(const Scenario& scenario);


}  // namespace fp::sim
