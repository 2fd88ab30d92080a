// Issue 16's methods as scenarios name them: label-free competitors and baselines in
// [baselines] methods, ablation keys in [fineprune], and what reaches the agent.
#include <filesystem>

#include "agent/task_translation.h"
#include "experiment/methods.h"
#include "simulation/scenario.h"
#include "test_paths.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;
using namespace fp::sim;

namespace {

const char* kMethodsScenario = R"(
name = "methods"
[fineprune]
select_sparsity = false
target_sparsity = 0.3
[[fineprune.variants]]
name = "hidden-only"
prune_output_layer = false
[[fineprune.variants]]
name = "output-only"
prune_hidden = false
compensate_bias = true
reestimate_batch_norm = true
[baselines]
methods = ["finetune", "svd", "svd_macs", "em_prior", "adabn", "tent", "fine_prune+tent"]
finetune_learning_rates = [0.001, 0.01]
finetune_max_epochs = 4
)";

}  // namespace

TEST_CASE("scenarios name the label-free methods and the ablations") {
  auto s = parse_scenario(kMethodsScenario, "methods.toml");
  INFO(s.status().to_string());
  REQUIRE(s.ok());
  REQUIRE(s->variants.size() == 2);
  CHECK_FALSE(s->variants[0].settings.prune.prune_output_layer);
  CHECK(s->variants[0].settings.prune.prune_hidden);
  CHECK_FALSE(s->variants[1].settings.prune.prune_hidden);
  CHECK(s->variants[1].settings.prune.compensate_bias);
  CHECK(s->variants[1].settings.prune.reestimate_batch_norm);
  CHECK(s->baselines.methods.size() == 7);
  CHECK(s->baselines.finetune_learning_rates == std::vector<double>{0.001, 0.01});
  CHECK(s->baselines.finetune_max_epochs == 4);

  // What an agent receives and turns into a PersonalizeConfig.
  proto::TaskAssignment task;
  task.prune_config_json = s->variants[1].assignment_json(s->privacy);
  task.baselines = s->baselines.methods;
  agent::BaselineSettings settings;
  settings.finetune_learning_rates = s->baselines.finetune_learning_rates;
  settings.finetune_max_epochs = s->baselines.finetune_max_epochs;
  auto c = agent::personalize_config_for(task, settings);
  REQUIRE(c.ok());
  CHECK_FALSE(c->prune.prune_hidden);
  CHECK(c->prune.compensate_bias);
  CHECK(c->prune.reestimate_batch_norm);
  CHECK(c->run_finetune);
  CHECK(c->run_svd);
  CHECK(c->extra_methods ==
        std::vector<std::string>{"svd_macs", "em_prior", "adabn", "tent", "fine_prune+tent"});
  CHECK(c->tuned_finetune.learning_rates == std::vector<double>{0.001, 0.01});
  CHECK(c->tuned_finetune.max_epochs == 4);
}

TEST_CASE("scenarios reject unknown methods and empty fine-tuning grids, naming them") {
  std::string text = kMethodsScenario;
  auto unknown = text;
  unknown.replace(unknown.find("\"tent\", "), 8, "\"tnet\", ");
  auto s = parse_scenario(unknown, "typo.toml");
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("tnet") != std::string::npos);
  CHECK(s.status().message().find("em_prior") != std::string::npos);  // lists the known ones
  auto empty = text;
  empty.replace(empty.find("[0.001, 0.01]"), 13, "[]");
  auto e = parse_scenario(empty, "empty.toml");
  REQUIRE_FALSE(e.ok());
  CHECK(e.status().message().find("finetune_learning_rates") != std::string::npos);
  auto nothing = text;
  nothing.replace(nothing.find("prune_hidden = false"), 20,
                  "prune_hidden = false\nprune_output_layer = false");
  CHECK_FALSE(parse_scenario(nothing, "nothing.toml").ok());
}

TEST_CASE("every development and test scenario of the held-out protocol parses") {
  namespace fs = std::filesystem;
  int dev = 0, test = 0;
  for (const auto& entry :
       fs::directory_iterator(fs::path(FP_SOURCE_DIR) / "simulations/scenarios/paper")) {
    const std::string name = entry.path().filename().string();
    // "*_dev.toml", and development campaigns named "<study>_dev_<experiment>.toml".
    const bool is_dev =
        name.find("_dev.toml") != std::string::npos || name.find("_dev_") != std::string::npos;
    const bool is_test =
        name.find("_test.toml") != std::string::npos || name.find("_test_") != std::string::npos;
    if (!is_dev && !is_test) continue;
    auto s = load_scenario(entry.path().string());
    INFO(name << ": " << s.status().to_string());
    REQUIRE(s.ok());
    for (const auto& m : s->baselines.methods) CHECK(is_known_method(m));
    if (is_test) {
      // The protocol's test seeds and disjoint individuals (docs/PROTOCOL.md).
      CHECK(s->seed == 101);
      // Disjoint individuals wherever the test split (10,000 images) can hold them.
      if (s->data.dataset == "fashion-mnist" &&
          s->partition.num_individuals * s->partition.samples_per_individual <= 10000)
        CHECK(s->partition.disjoint);
    }
    // Every protocol report in docs/results but the statistics_samples study (4 Dec, run with
    // the defaults of its day) predates the selector's stopping rule and the statistics cap:
    // each file pins what it ran with (every candidate scored, every sample recorded), so
    // rerunning it reproduces its report.
    dev += is_dev;
    test += is_test;
    if (name.rfind("statistics_samples_", 0) == 0) continue;
    for (const auto& v : s->variants) {
      CHECK(v.settings.selector.stop_after_ruled_out == 0);
      CHECK(v.settings.statistics_samples == 0);
    }
  }
  CHECK(dev >= 4);
  CHECK(test >= 4);
}
