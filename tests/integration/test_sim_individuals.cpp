// One individual rule (issue 15): fp-agent and fp-sim carve the same samples from the
// same individual name and seed (the agent's loader maps onto data/partition.h).

#include <catch2/catch.hpp>  // last: its CHECK, not glog's
#include <filesystem>

#include "agent/local_data.h"
#include "data/fsdd.h"
#include "simulation/population.h"
#include "simulation/scenario.h"
#include "skip.h"
#include "test_paths.h"

using namespace fp;
namespace fs = std::filesystem;

namespace {

void same_individual(const sim::Population& p, const agent::LocalDataConfig& c,
                     const std::string& sim_name, const std::string& agent_name) {
  const Individual* simulated = nullptr;
  for (const auto& ind : p.individuals)
    if (ind.name == sim_name) simulated = &ind;
  REQUIRE(simulated != nullptr);
  auto carved = agent::individual_indices(p.pool, c, agent_name);
  REQUIRE(carved.ok());
  CHECK(carved->adaptation == simulated->adaptation);
  CHECK(carved->evaluation == simulated->evaluation);
  CHECK(carved->adaptation.size() > 10);
  // And through the agent's whole loader (its own read of the data set).
  auto loaded = agent::load_individual(c, agent_name);
  REQUIRE(loaded.ok());
  auto mine = sim::private_data(p, static_cast<size_t>(simulated - p.individuals.data()));
  CHECK(torch::equal(loaded->adaptation.inputs, mine.adaptation.inputs));
  CHECK(torch::equal(loaded->evaluation.labels, mine.evaluation.labels));
}

// fp-sim's population of the scenario given as TOML text.
sim::Population population_of(const std::string& toml) {
  auto scenario = sim::parse_scenario(toml, "same.toml");
  REQUIRE(scenario.ok());
  auto population = sim::load_population(*scenario);
  REQUIRE(population.ok());
  return std::move(population).value();
}

}  // namespace

TEST_CASE("fp-agent and fp-sim carve the same FSDD speaker", "[device][partition]") {
  std::string dir = default_fsdd_dir();
  if (dir.empty() && fs::is_directory(std::string(FP_SOURCE_DIR) + "/../shared/data/fsdd"))
    dir = std::string(FP_SOURCE_DIR) + "/../shared/data/fsdd";
  if (dir.empty()) {
    return fp::testing::skip("FSDD not found (no ../shared/data/fsdd, FP_FSDD_DIR unset)",
                             fp::testing::kOptional);
  }
  auto population =
      population_of("name = \"same\"\nseed = 7\n[data]\ndataset = \"fsdd\"\ndir = \"" + dir +
                    "\"\n[partition]\nmethod = \"natural\"\nsamples = 250\neval_fraction = 0.4\n");
  agent::LocalDataConfig c;
  c.dataset = "fsdd";
  c.data_dir = dir;
  c.split_seed = 7;
  c.samples = 250;
  c.eval_fraction = 0.4;
  same_individual(population, c, "group=jackson", "speaker=jackson");
  same_individual(population, c, "group=theo", "group=theo");
  // The coordinator's general data are what no individual took, as in fp-sim.
  c.samples = 0;
  c.general_fraction = 0.5;  // 250 of each speaker's 500 are private
  auto general = agent::load_general_data(c);
  REQUIRE(general.ok());
  CHECK(general->size() == 1500);
}

TEST_CASE("fp-agent and fp-sim carve the same Fashion-MNIST k-classes individual",
          "[device][partition]") {
  auto population = population_of(
      "name = \"same\"\nseed = 3\n[data]\ndataset = \"fashion-mnist\"\n[partition]\n"
      "method = \"k_classes\"\nindividuals = 5\nk = 2\nsamples = 100\neval_fraction = 0.5\n");
  agent::LocalDataConfig c;
  c.dataset = "fashion-mnist";
  c.split_seed = 3;
  c.samples = 100;
  c.individuals = 5;
  c.k = 2;
  for (size_t i : {0, 3}) {
    const std::string name = population.individuals[i].name;
    same_individual(population, c, name, name);
  }
  // A name the partition does not hold says which it does.
  auto missing = agent::individual_indices(population.pool, c, "classes=0+1#9");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("known:") != std::string::npos);
}

TEST_CASE("a device checks the individuals it is said to hold before it starts",
          "[device][partition]") {
  agent::LocalDataConfig c;
  c.dataset = "fashion-mnist";  // its default folder, as the rest of this file
  CHECK(agent::check_individuals(c, {"classes=0+9", "classes=1+7#1"}).ok());
  // Each refusal names the individual; the first bad one of a list is the one named.
  auto bad_class = agent::check_individuals(c, {"classes=0+9", "classes=0+99"});
  CHECK_THAT(bad_class.message(), Catch::Contains("bad class '99' in 'classes=0+99'"));
  auto twice = agent::check_individuals(c, {"classes=0+0"});
  CHECK_THAT(twice.message(), Catch::Contains("class '0' named twice in 'classes=0+0'"));
  auto other_set = agent::check_individuals(c, {"speaker=theo"});
  CHECK_THAT(other_set.message(), Catch::Contains("got 'speaker=theo'"));
  c.individuals = 5;  // fp-sim's k_classes partition: only its names
  auto unknown = agent::check_individuals(c, {"classes=0+1#9"});
  CHECK(unknown.code() == Status::Code::kNotFound);
  CHECK_THAT(unknown.message(), Catch::Contains("known:"));
  c.data_dir = "/nonexistent/fashion-mnist";
  // The folder, not an individual, is what is wrong: named with the option that sets it.
  const Status no_folder = agent::check_individuals(c, {"classes=0+9"});
  CHECK(no_folder.code() == Status::Code::kNotFound);
  CHECK_THAT(no_folder.message(),
             Catch::StartsWith("the fashion-mnist data (--data-dir /nonexistent/fashion-mnist): "));
}
