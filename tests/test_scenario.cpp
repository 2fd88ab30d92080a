// Scenario files (parsing, defaults, error messages), the pieces of fp-sim that need
// no network: host shares, private data files, statistics, CSV, progress lines.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "experiment/personalize_settings.h"
#include "report/report_table.h"
#include "report/run_results.h"
#include "simulation/agent_host.h"
#include "simulation/campaign_progress.h"
#include "simulation/class_selection.h"
#include "simulation/population.h"
#include "simulation/scenario.h"
#include "simulation/scenario_overrides.h"
#include "simulation/sim_server_config.h"
#include "temp_dir.h"
#include "test_paths.h"
#include "util/csv.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;
using namespace fp::sim;
using namespace fp::report;

namespace {

std::string error_of(const std::string& text) {
  auto s = parse_scenario(text, "test.toml");
  REQUIRE_FALSE(s.ok());
  return s.status().message();
}

const char* kMinimal = "name = \"tiny\"\n";

}  // namespace

TEST_CASE("a minimal scenario gets the documented defaults", "[scenario]") {
  auto s = parse_scenario(kMinimal, "tiny.toml");
  REQUIRE(s.ok());
  CHECK(s->name == "tiny");
  CHECK(s->seed == 1);
  CHECK(s->data.dataset == "fashion-mnist");
  CHECK(s->partition.method == PartitionMethod::kKClasses);
  CHECK(s->partition.seed == 1);
  CHECK(s->general.arch == "cnn");
  REQUIRE(s->variants.size() == 1);
  CHECK(s->variants[0].name.empty());
  CHECK(s->variants[0].settings.select_sparsity);
  CHECK(s->baselines.methods == std::vector<std::string>{"finetune", "svd"});
  CHECK(s->hosting.mode == HostingMode::kInProcess);
  CHECK(s->hosting.folders_in_memory);
  CHECK(s->hosting.private_data_in_memory);
  CHECK(s->hosting.downloads_in_memory);
  CHECK(s->hosting.connected_per_host() == 4 * s->hosting.workers);
  CHECK(s->text == kMinimal);
}

TEST_CASE("a run starts no more hosts than it has individuals, save external ones", "[scenario]") {
  HostingSection h;
  h.hosts = 8;
  CHECK(hosts_to_start(h, 3) == 3);
  CHECK(hosts_to_start(h, 8) == 8);
  CHECK(hosts_to_start(h, 100) == 8);
  CHECK(hosts_to_start(h, 0) == 1);
  h.mode = HostingMode::kProcesses;
  CHECK(hosts_to_start(h, 3) == 3);
  h.mode = HostingMode::kExternal;  // a Slurm array's size is the user's: its hosts end idle
  CHECK(hosts_to_start(h, 3) == 8);
}

TEST_CASE("a general model with no samples left names why, leave-one-out or not", "[scenario]") {
  Scenario s;
  s.source = "one.toml";
  s.data.dataset = "fsdd";
  Population p;
  p.pool.inputs = torch::zeros({4, 1, 2, 2});
  p.pool.labels = torch::tensor(std::vector<int64_t>{0, 1, 0, 1});
  p.pool.groups = torch::zeros({4}, torch::kInt64);  // one speaker: everything is hers
  p.individuals.push_back({"group=jackson", {0, 1}, {0, 1}, {2, 3}});
  auto shared = general_training_data(s, p);
  REQUIRE_FALSE(shared.ok());
  CHECK_THAT(shared.status().message(), Catch::Contains("set general.leave_individual_out"));
  // Leave-one-out already on: suggesting it was no help.
  s.general.leave_individual_out = true;
  auto left_out = general_training_data(s, p, 0);
  REQUIRE_FALSE(left_out.ok());
  CHECK_THAT(left_out.status().message(),
             Catch::Contains("without individual group=jackson: every sample is that "
                             "individual's") &&
                 !Catch::Contains("leave_individual_out = true"));
}

TEST_CASE("every section is read into the scenario", "[scenario]") {
  auto s = parse_scenario(R"(
name = "full"
seed = 9
[data]
dataset = "fsdd"
dir = "/data/fsdd"
general_samples = 100
[partition]
method = "natural"
samples = 0
eval_fraction = 0.25
[general]
arch = "vgg7"
width_mult = 0.5
epochs = 3
learning_rate = 1   # an integer is accepted where a number is expected
optimizer = "sgd"
threads = 1
leave_individual_out = true
[fineprune]
criterion = "mean"
scope = "global"
target_sparsity = 0.4
output_usage_threshold = 0.02
select_sparsity = false
stop_after_ruled_out = 0
stop_after_beaten = 3
rule_out_parts = 4
sweep = [0.1, 0.5]
[baselines]
methods = ["svd"]
finetune_epochs = 7
[hosting]
mode = "processes"
hosts = 3
workers = 4
connected = 16
endpoint = "ipc:///tmp/fp.sock"
)",
                          "full.toml");
  INFO(s.status().to_string());
  REQUIRE(s.ok());
  CHECK(s->seed == 9);
  CHECK(s->partition.seed == 9);  // follows the scenario's seed
  CHECK(s->data.dataset == "fsdd");
  CHECK(s->data.dir == "/data/fsdd");
  CHECK(s->data.general_samples == 100);
  CHECK(s->partition.method == PartitionMethod::kNatural);
  CHECK(s->partition.eval_fraction == 0.25);
  CHECK(s->general.arch == "vgg7");
  CHECK(s->general.learning_rate == 1.0);
  CHECK(s->general.leave_individual_out);
  REQUIRE(s->variants.size() == 1);
  const Variant& v = s->variants[0];
  CHECK(v.settings.prune.criterion == Criterion::kMean);
  CHECK(v.settings.prune.scope == Scope::kGlobal);
  CHECK(v.settings.prune.target_sparsity == 0.4);
  CHECK(v.settings.prune.output_usage_threshold == 0.02);
  CHECK_FALSE(v.settings.select_sparsity);
  CHECK(v.settings.selector.stop_after_ruled_out == 0);
  CHECK(v.settings.selector.stop_after_beaten == 3);
  CHECK(v.settings.selector.rule_out_parts == 4);
  CHECK(v.settings.sweep_targets == std::vector<double>{0.1, 0.5});
  CHECK(s->baselines.methods == std::vector<std::string>{"svd"});
  CHECK(s->baselines.finetune_epochs == 7);
  CHECK(s->hosting.mode == HostingMode::kProcesses);
  CHECK(s->hosting.hosts == 3);
  CHECK(s->hosting.connected_per_host() == 16);
  CHECK(s->hosting.endpoint == "ipc:///tmp/fp.sock");
  auto external = parse_scenario("name = \"e\"\n[hosting]\nmode = \"external\"\n", "e.toml");
  REQUIRE(external.ok());
  CHECK(external->hosting.mode == HostingMode::kExternal);

  // What travels to the agents: the prune config plus the selector's keys.
  auto j = nlohmann::json::parse(v.assignment_json());
  CHECK(j["criterion"] == "mean");
  CHECK(j["target_sparsity"] == 0.4);
  CHECK(j["select_sparsity"] == false);
  CHECK(j["candidates"].size() == v.settings.selector.candidates.size());
  CHECK(j["stop_after_ruled_out"] == 0);
  CHECK(j["stop_after_beaten"] == 3);
  PersonalizeConfig on_agent;  // the agent's side reads the same keys back
  REQUIRE(apply_personalize_settings(v.assignment_json(), on_agent).ok());
  CHECK(on_agent.selector.stop_after_ruled_out == 0);
  CHECK(on_agent.selector.stop_after_beaten == 3);
  CHECK_FALSE(on_agent.select_sparsity);
  auto back = PruneConfig::from_json(v.assignment_json());
  REQUIRE(back.ok());
  CHECK(back->scope == Scope::kGlobal);
  CHECK(back->output_usage_threshold == 0.02);
}

TEST_CASE("variants override the base fineprune keys with one campaign each", "[scenario]") {
  auto s = parse_scenario(R"(
name = "sweep"
[fineprune]
criterion = "energy"
target_sparsity = 0.3
select_sparsity = false
[[fineprune.variants]]
name = "energy-30"
[[fineprune.variants]]
name = "mean-60"
criterion = "mean"
target_sparsity = 0.6
)",
                          "sweep.toml");
  INFO(s.status().to_string());
  REQUIRE(s.ok());
  REQUIRE(s->variants.size() == 2);
  CHECK(s->variants[0].name == "energy-30");
  CHECK(s->variants[0].settings.prune.criterion == Criterion::kEnergy);
  CHECK(s->variants[0].settings.prune.target_sparsity == 0.3);
  CHECK(s->variants[1].name == "mean-60");
  CHECK(s->variants[1].settings.prune.criterion == Criterion::kMean);
  CHECK(s->variants[1].settings.prune.target_sparsity == 0.6);
  CHECK_FALSE(s->variants[1].settings.select_sparsity);  // inherited
}

TEST_CASE("class counts and adaptation amounts are read and travel with the task", "[scenario]") {
  auto s = parse_scenario(R"(
name = "amounts"
[partition]
k_values = [1, 2, 10]
[fineprune]
adaptation_samples = 50
statistics_samples = 32
[[fineprune.variants]]
name = "all"
adaptation_samples = 0
statistics_samples = 0
[[fineprune.variants]]
name = "few"
)",
                          "amounts.toml");
  INFO(s.status().to_string());
  REQUIRE(s.ok());
  CHECK(s->partition.k_values == std::vector<int64_t>{1, 2, 10});
  REQUIRE(s->variants.size() == 2);
  CHECK(s->variants[0].settings.max_adaptation_samples == 0);
  CHECK(s->variants[1].settings.max_adaptation_samples == 50);  // inherited
  auto few = nlohmann::json::parse(s->variants[1].assignment_json());
  CHECK(few["adaptation_samples"] == 50);
  CHECK_FALSE(
      nlohmann::json::parse(s->variants[0].assignment_json()).contains("adaptation_samples"));
  CHECK(s->variants[0].settings.statistics_samples == 0);
  CHECK(s->variants[1].settings.statistics_samples == 32);  // inherited
  CHECK(few["statistics_samples"] == 32);
  PersonalizeConfig on_agent;
  REQUIRE(apply_personalize_settings(s->variants[1].assignment_json(), on_agent).ok());
  CHECK(on_agent.statistics_samples == 32);
  REQUIRE(apply_personalize_settings(R"({"statistics_samples": 0})", on_agent).ok());
  CHECK(on_agent.statistics_samples == 0);
  const Status negative_json =
      apply_personalize_settings(R"({"statistics_samples": -1})", on_agent);
  CHECK_THAT(negative_json.message(), Catch::Contains("statistics_samples"));
  // Each refused with the key (or what is wrong) named.
  auto refused = [](const std::string& toml, const std::string& says) {
    auto parsed = parse_scenario("name = \"x\"\n" + toml, "refused.toml");
    INFO(toml);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.status().message(), Catch::Contains(says));
  };
  // Candidates the selector cannot walk (it starts at the densest and stops early) were
  // accepted here and failed every task on the devices.
  refused("[fineprune]\ncandidates = [0.9, 0.1]\n", "increasing, without repeats");
  refused("[fineprune]\ncandidates = [0.5, 0.5]\n", "increasing, without repeats");
  refused("[fineprune]\nstatistics_samples = -1\n", "statistics_samples");
  refused("[fineprune]\nadaptation_samples = -3\n", "adaptation_samples");
  refused("[fineprune]\nstop_after_beaten = -1\n", "stop_after_beaten");
  refused("[partition]\nk_values = [1, 2.5]\n", "an array of integers");
  refused("[partition]\nk_values = [0, 2]\n", "k_values");
  // Named by their scenario key and line (the partition named its C++ fields when it drew
  // the individuals).
  refused("[partition]\nsamples = 1\n", "refused.toml:3: partition.samples must be 0 (all");
  refused("[partition]\nk = 3\nsamples = 2\n", "partition.samples must cover k = 3 classes");
  refused("[partition]\nk_values = [2, 6]\nsamples = 5\n",
          "partition.samples must cover k = 6 classes");
}

TEST_CASE("an explicit partition seed survives a new scenario seed", "[scenario]") {
  auto follows = parse_scenario("name = \"a\"\nseed = 3\n", "a.toml");
  auto fixed = parse_scenario("name = \"a\"\nseed = 3\n[partition]\nseed = 11\n", "a.toml");
  REQUIRE(follows.ok());
  REQUIRE(fixed.ok());
  set_seed(*follows, 5);
  set_seed(*fixed, 5);
  CHECK(follows->seed == 5);
  CHECK(follows->partition.seed == 5);
  CHECK(fixed->seed == 5);
  CHECK(fixed->partition.seed == 11);
}

TEST_CASE("the baselines can be replaced from the command line, or switched off", "[scenario]") {
  auto s =
      parse_scenario("name = \"m\"\n[baselines]\nmethods = [\"finetune\", \"svd\"]\n", "m.toml");
  REQUIRE(s.ok());
  REQUIRE(set_baseline_methods(*s, "svd,em_prior").ok());
  CHECK(s->baselines.methods == std::vector<std::string>{"svd", "em_prior"});
  REQUIRE(set_baseline_methods(*s, "none").ok());
  CHECK(s->baselines.methods.empty());
  // Refused by name, and the scenario keeps what it had.
  REQUIRE(set_baseline_methods(*s, "adabn").ok());
  for (const char* bad : {"adabn,coin_flip", "adabn,adabn", "adabn,,svd", ""}) {
    Status refused = set_baseline_methods(*s, bad);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.message(), Catch::Contains("--methods"));
    CHECK(s->baselines.methods == std::vector<std::string>{"adabn"});
  }
  CHECK_THAT(set_baseline_methods(*s, "adabn,coin_flip").message(), Catch::Contains("coin_flip"));
}

TEST_CASE("unknown keys are named with their table and file and line", "[scenario]") {
  CHECK(error_of("name = \"x\"\n[partition]\nk = 2\nindividualz = 5\n") ==
        "test.toml:4: unknown key 'partition.individualz' (known here: method, individuals, k, "
        "k_values, alpha, samples, eval_fraction, disjoint, classes, best_classes, seed)");
  CHECK(error_of("name = \"x\"\nsed = 3\n").find("test.toml:2: unknown key 'sed'") == 0);
  CHECK(error_of("name = \"x\"\n[hosting]\nworker = 2\n").find("'hosting.worker'") !=
        std::string::npos);
  CHECK(error_of("name = \"x\"\n[surprise]\n").find("unknown key 'surprise'") != std::string::npos);
  CHECK(error_of("name = \"x\"\n[[fineprune.variants]]\nname = \"v\"\ncriterio = \"mean\"\n")
            .find("test.toml:4: unknown key 'fineprune.variants[0].criterio'") == 0);
}

TEST_CASE("values of the wrong type are named with the expected type", "[scenario]") {
  CHECK(error_of("name = \"x\"\n[partition]\nk = \"two\"\n") ==
        "test.toml:3: partition.k must be an integer");
  CHECK(error_of("name = \"x\"\n[partition]\nk = 2.5\n") ==
        "test.toml:3: partition.k must be an integer");
  CHECK(error_of("name = \"x\"\n[general]\nwidth_mult = \"wide\"\n") ==
        "test.toml:3: general.width_mult must be a number");
  CHECK(error_of("name = \"x\"\n[hosting]\nkeep_private_data = 1\n") ==
        "test.toml:3: hosting.keep_private_data must be a boolean (true or false)");
  CHECK(error_of("name = \"x\"\n[fineprune]\nsweep = [0.1, \"a\"]\n") ==
        "test.toml:3: fineprune.sweep must be an array of numbers");
  CHECK(error_of("name = \"x\"\ndata = 3\n") == "test.toml:2: data must be a table");
  CHECK(error_of("seed = -1\nname = \"x\"\n") ==
        "test.toml:1: seed must be a non-negative integer");
}

TEST_CASE("a list of distinct things naming one twice is refused at the repeat's line",
          "[scenario]") {
  // A repeat is a typo for another item: class 0 twice would make an individual of classes
  // 0 and 0; a sparsity or method twice, a curve point or a report the store would drop.
  CHECK(error_of("name = \"x\"\n[partition]\nclasses = [0,\n  3,\n  0]\nbest_classes = 3\n") ==
        "test.toml:5: partition.classes names 0 twice");
  CHECK(error_of("name = \"x\"\n[fineprune]\nsweep = [0.25, 0.5, 0.25]\n") ==
        "test.toml:3: fineprune.sweep names 0.25 twice");
  CHECK(error_of("name = \"x\"\n[fineprune]\nprotected_layers = [\"fc_out\", \"fc_out\"]\n") ==
        "test.toml:3: fineprune.protected_layers names \"fc_out\" twice");
  CHECK(error_of("name = \"x\"\n[baselines]\nmethods = [\"svd\", \"finetune\", \"svd\"]\n") ==
        "test.toml:3: baselines.methods names \"svd\" twice");
  CHECK(error_of("name = \"x\"\n[baselines]\nfinetune_learning_rates = [0.01, 0.01]\n") ==
        "test.toml:3: baselines.finetune_learning_rates names 0.01 twice");
  // Distinct items still read as given; class counts repeat on purpose (they weight the
  // individuals), and the candidates' own check says more (increasing, without repeats).
  auto s = parse_scenario("name = \"x\"\n[fineprune]\nsweep = [0.5, 0.25]\n", "test.toml");
  REQUIRE(s.ok());
  CHECK(s->variants.front().settings.sweep_targets == std::vector<double>{0.5, 0.25});
  auto weighted = parse_scenario("name = \"x\"\n[partition]\nk_values = [2, 2, 5]\n", "test.toml");
  REQUIRE(weighted.ok());
  CHECK(weighted->partition.k_values == std::vector<int64_t>{2, 2, 5});
}

TEST_CASE("values out of range and bad names are rejected with the key", "[scenario]") {
  CHECK(error_of("[data]\n") == "test.toml: name is required (a short label)");
  CHECK(error_of("name = \"a b\"\n").find("name must be 1-48 letters") != std::string::npos);
  // An integer its setting cannot hold is refused, not wrapped (4294967298 threads became 2).
  CHECK_THAT(error_of("name = \"x\"\n[general]\nthreads = 4294967298\n"),
             Catch::StartsWith("test.toml:3: general.threads must be an integer from "));
  // A name is a folder's: "." and ".." put the run outside runs/, where --fresh emptied it.
  for (const char* dots : {".", "..", "...", ".hidden"}) {
    INFO(dots);
    CHECK(error_of(std::string("name = \"") + dots + "\"\n") ==
          "test.toml:1: name must be 1-48 letters, digits, '-', '_' or '.', not starting with '.'");
  }
  CHECK(error_of("name = \"x\"\n[data]\ndataset = \"mnist\"\n") ==
        "test.toml:3: data.dataset must be \"fashion-mnist\", \"fsdd\" or \"image-folder\", "
        "not \"mnist\"");
  // An image folder names its folder; its shape keys are its own.
  CHECK(error_of("name = \"x\"\n[data]\ndataset = \"image-folder\"\n")
            .find("data.dir must name the image folder") != std::string::npos);
  CHECK(error_of("name = \"x\"\n[data]\nheight = 32\n") ==
        "test.toml:3: data.height is for dataset = \"image-folder\": fashion-mnist's input "
        "shape is its own");
  CHECK(error_of("name = \"x\"\n[data]\ndataset = \"image-folder\"\ndir = \"d\"\nchannels = 2\n") ==
        "test.toml:5: data.channels must be 1 or 3");
  CHECK(error_of("name = \"x\"\n[data]\ndataset = \"image-folder\"\ndir = \"d\"\nwidth = 0\n") ==
        "test.toml:5: data.width must be from 1 to 1024");
  auto folder = parse_scenario(
      "name = \"x\"\n[data]\ndataset = \"image-folder\"\ndir = \"faces\"\nchannels = 3\n"
      "height = 48\nwidth = 40\n",
      "test.toml");
  REQUIRE(folder.ok());
  CHECK(folder->data.dir == "faces");
  CHECK(folder->data.channels == 3);
  CHECK(folder->data.height == 48);
  CHECK(folder->data.width == 40);
  CHECK(error_of("name = \"x\"\n[partition]\nmethod = \"random\"\n")
            .find("test.toml:3: partition.method: unknown partition method 'random'") == 0);
  CHECK(error_of("name = \"x\"\n[partition]\neval_fraction = 1.0\n") ==
        "test.toml:3: partition.eval_fraction must be in (0, 1)");
  CHECK(error_of("name = \"x\"\n[general]\narch = \"transformer\"\n").find("general.arch") !=
        std::string::npos);
  CHECK(error_of("name = \"x\"\n[fineprune]\ntarget_sparsity = 1.5\n").find("target_sparsity") !=
        std::string::npos);
  CHECK(error_of("name = \"x\"\n[fineprune]\ncriterion = \"loudness\"\n")
            .find("fineprune.criterion: unknown criterion 'loudness'") != std::string::npos);
  CHECK(error_of("name = \"x\"\n[baselines]\nmethods = [\"distill\"]\n")
            .find("test.toml:3: baselines.methods may hold finetune, finetune_plain, svd") == 0);
  CHECK(error_of("name = \"x\"\n[baselines]\nmethods = [\"distill\"]\n").find("not \"distill\"") !=
        std::string::npos);
  CHECK(error_of("name = \"x\"\n[hosting]\nmode = \"cloud\"\n") ==
        "test.toml:3: hosting.mode must be \"in-process\", \"processes\" or \"external\", not "
        "\"cloud\"");
  CHECK(error_of("name = \"x\"\n[hosting]\nagent_folders = \"cloud\"\n") ==
        "test.toml:3: hosting.agent_folders must be \"memory\" or \"disk\", not \"cloud\"");
  CHECK(error_of("name = \"x\"\n[hosting]\nprivate_data = \"disk\"\n") ==
        "test.toml:3: hosting.private_data must be \"memory\" or \"file\", not \"disk\"");
  CHECK(error_of("name = \"x\"\n[hosting]\ndownloads = \"disk\"\n") ==
        "test.toml:3: hosting.downloads must be \"memory\" or \"file\", not \"disk\"");
  CHECK(error_of("name = \"x\"\n[hosting]\nconnections = \"pooled\"\n") ==
        "test.toml:3: hosting.connections must be \"shared\" or \"per-agent\", not \"pooled\"");
  CHECK(error_of("name = \"x\"\n[fineprune]\nrule_out_parts = 0\n") ==
        "test.toml:3: fineprune.rule_out_parts must be >= 1 (1: one pass)");
  // Epochs of many digits trained for ever.
  CHECK(error_of("name = \"x\"\n[general]\nepochs = 9223372036854775807\n") ==
        "test.toml:3: general.epochs must be 1 to 10000, not 9223372036854775807");
  // A learning rate of many digits trained a whole run and was then said to diverge.
  CHECK(error_of("name = \"x\"\n[general]\nlearning_rate = 1e308\n") ==
        "test.toml:3: general.learning_rate must be in (0, 10], got 1e+308");
  CHECK(error_of("name = \"x\"\n[general]\nlearning_rate = 0\n") ==
        "test.toml:3: general.learning_rate must be in (0, 10], got 0");
  CHECK(error_of("name = \"x\"\n[baselines]\nfinetune_learning_rate = 11\n") ==
        "test.toml:3: baselines.finetune_learning_rate must be in (0, 10], got 11");
  CHECK(error_of("name = \"x\"\n[baselines]\nfinetune_learning_rates = [0.001, 1e9]\n") ==
        "test.toml:3: baselines.finetune_learning_rates each must be in (0, 10], got 1e+09");
  CHECK(error_of("name = \"x\"\n[baselines]\nfinetune_learning_rates = []\n") ==
        "test.toml:3: baselines.finetune_learning_rates must be a non-empty list of rates");
  CHECK(error_of("name = \"x\"\n[baselines]\nfinetune_epochs = 10001\n") ==
        "test.toml:3: baselines.finetune_epochs must be 1 to 10000, not 10001");
  CHECK(error_of("name = \"x\"\n[baselines]\nfinetune_max_epochs = 0\n") ==
        "test.toml:3: baselines.finetune_max_epochs must be 1 to 10000, not 0");
  CHECK(error_of("name = \"x\"\n[hosting]\nworkers = 0\n") ==
        "test.toml:3: hosting.workers must be in [1, 256]");
  CHECK(error_of("name = \"x\"\n[hosting]\ncommit_delay_ms = -1\n") ==
        "test.toml:3: hosting.commit_delay_ms must be in [0, 1000]");
  CHECK(error_of("name = \"x\"\n[hosting]\nendpoint = \"http://x\"\n") ==
        "test.toml:3: hosting.endpoint must start with tcp:// or ipc://");
  CHECK(error_of("name = \"x\"\n[hosting]\nendpoint = \"tcp://127.0.0.1:99999\"\n") ==
        "test.toml:3: hosting.endpoint must be an endpoint to bind: endpoint "
        "'tcp://127.0.0.1:99999': the port must be a number from 0 to 65535 (endpoints look like "
        "tcp://host:5555)");
  CHECK(error_of("name = \"x\"\n[[fineprune.variants]]\nname = \"a\"\n[[fineprune.variants]]\n"
                 "name = \"a\"\n")
            .find("variant name 'a' is used twice") != std::string::npos);
  CHECK(error_of("name = \"x\"\n[general]\nleave_individual_out = true\n")
            .find("leave_individual_out needs data.dataset = \"fsdd\"") != std::string::npos);
}

TEST_CASE("malformed TOML and missing files are errors that name the file", "[scenario]") {
  CHECK(error_of("name = \"x\"\n[partition\n").find("test.toml:2: not valid TOML") == 0);
  auto missing = load_scenario("/nonexistent/scenario.toml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() == "scenario file /nonexistent/scenario.toml cannot be opened");
}

TEST_CASE("the shipped scenarios parse", "[scenario]") {
  for (const char* name :
       {"smoke", "quickstart", "fashion_mnist_2class", "fsdd_speakers", "bench_1000",
        "paper/fmnist_resnet50", "paper/fmnist_mobilenetv2", "paper/fsdd_vgg7", "paper/fsdd_vgg19",
        "paper/fmnist_sparsity_curve", "paper/fmnist_data_amount", "paper/fmnist_classes",
        "paper/fmnist_scale", "paper/fmnist_variants", "my_pictures"}) {
    std::string path = std::string(FP_SOURCE_DIR) + "/simulations/scenarios/" + name + ".toml";
    auto s = load_scenario(path);
    INFO(path << ": " << s.status().to_string());
    CHECK(s.ok());
  }
}

TEST_CASE("hosts split the individuals between them without gaps or overlaps", "[scenario]") {
  std::vector<int> owner(10, -1);
  for (int64_t h = 0; h < 3; ++h) {
    for (size_t i : host_share(10, h, 3)) {
      CHECK(owner[i] == -1);
      owner[i] = static_cast<int>(h);
    }
  }
  for (int o : owner) CHECK(o >= 0);
  CHECK(host_share(10, 0, 3) == std::vector<size_t>{0, 3, 6, 9});
  CHECK(host_share(2, 2, 3).empty());
  CHECK(host_share(5, 3, 3).empty());  // no such host
}

TEST_CASE("private data files round-trip and damaged ones are reported", "[scenario]") {
  auto dir = std::filesystem::temp_directory_path() / ("fp_scenario_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  PrivateData d;
  d.adaptation.inputs = torch::rand({5, 1, 4, 4});
  d.adaptation.labels = torch::tensor(std::vector<int64_t>{0, 1, 1, 0, 1});
  d.evaluation.inputs = torch::rand({3, 1, 4, 4});
  d.evaluation.labels = torch::tensor(std::vector<int64_t>{1, 0, 1});
  std::string path = (dir / "private.bin").string();
  REQUIRE(save_private_data(d, path).ok());
  auto back = load_private_data(path);
  REQUIRE(back.ok());
  CHECK(torch::equal(back->adaptation.inputs, d.adaptation.inputs));
  CHECK(torch::equal(back->adaptation.labels, d.adaptation.labels));
  CHECK(torch::equal(back->evaluation.inputs, d.evaluation.inputs));
  CHECK(torch::equal(back->evaluation.labels, d.evaluation.labels));

  // Cut anywhere, the file is refused, naming it and what is wrong.
  const std::string whole = fp::testing::read_file(path);
  for (size_t cut : {size_t{0}, size_t{5}, size_t{11}, whole.size() / 2, whole.size() - 1}) {
    INFO("cut at " << cut);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole.substr(0, cut);
    auto damaged = load_private_data(path);
    REQUIRE_FALSE(damaged.ok());
    CHECK(damaged.status().code() == Status::Code::kCorruption);
    CHECK(damaged.status().message().find(path) != std::string::npos);
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a private data file at all";
  auto junk = load_private_data(path);
  REQUIRE_FALSE(junk.ok());
  CHECK(junk.status().message().find("not a private data file") != std::string::npos);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << whole << "x";
  auto trailing = load_private_data(path);
  REQUIRE_FALSE(trailing.ok());
  CHECK(trailing.status().message().find("bytes after its tensors") != std::string::npos);

  PrivateData wrong = d;
  wrong.evaluation.labels = torch::tensor(std::vector<int64_t>{1, 0});  // 3 inputs, 2 labels
  REQUIRE(save_private_data(wrong, path).ok());
  auto mismatched = load_private_data(path);
  REQUIRE_FALSE(mismatched.ok());
  CHECK(mismatched.status().message().find("unexpected shapes") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("agent ids sort like agent numbers", "[scenario]") {
  auto s = parse_scenario(kMinimal, "tiny.toml");
  REQUIRE(s.ok());
  CHECK(agent_id(*s, 7) == "tiny-a00007");
  CHECK(agent_id(*s, 12345) == "tiny-a12345");
  CHECK(agent_id(*s, 9) < agent_id(*s, 10));
}

TEST_CASE("summaries use the sample standard deviation", "[scenario]") {
  Stat s = describe({0.1, 0.2, 0.3, 0.4});
  CHECK(s.n == 4);
  CHECK(s.mean == Approx(0.25));
  CHECK(s.std == Approx(0.1290994449));
  CHECK(s.min == 0.1);
  CHECK(s.max == 0.4);
  CHECK(describe({}).n == 0);
  CHECK(describe({0.5}).std == 0.0);
}

// A regression check: the expected line below is a golden value pinned from the
// exporter's output when the format was settled (27 columns, "%f" numbers, RFC 4180
// quoting), so that any change to the exported format is seen and made on purpose.
// The structural checks before it hold for any format.
TEST_CASE("regression: the CSV export line of a failed row is byte for byte the pinned format",
          "[scenario][regression]") {
  RunResults r;
  r.run.id = 3;
  r.run.scenario = "s";
  IndividualRow row;
  row.individual = "classes=1+2#0";
  row.agent_id = "s-a00000";
  row.status = "failed";
  row.error = "model \"x\", gone";
  row.general = 0.5;
  row.measured = true;  // a report carried the general model's accuracy
  r.rows.push_back(row);
  std::string csv = to_csv(r);
  auto newline = csv.find('\n');
  std::string header = csv.substr(0, newline);
  std::string line = csv.substr(newline + 1);
  CHECK(std::count(header.begin(), header.end(), ',') == 26);
  // Quoting: the error's own quotes are doubled inside one quoted field, so the comma
  // in it does not start a column; missing values are empty.
  CHECK(line.find("\"model \"\"x\"\", gone\"") != std::string::npos);
  CHECK(line.rfind("3,s,,classes=1+2#0,s-a00000,failed,", 0) == 0);
  // The pinned line (the regression check proper); mac_reduction is empty without a
  // Fine-Pruned result, compact_bytes 0 when unknown, evaluated 1 (labels were there).
  CHECK(line ==
        "3,s,,classes=1+2#0,s-a00000,failed,0.500000,,,,,,,,0,0,0.000000,0,0,0.000000,0,0,0,"
        "\"model \"\"x\"\", gone\",,0,1\n");
  // Nothing measured (no report at all): "evaluated" is empty, not 1 as if labels were there.
  r.rows[0].measured = false;
  r.rows[0].general.reset();
  const std::string unmeasured = to_csv(r);
  CHECK(unmeasured.substr(unmeasured.find('\n') + 1) ==
        "3,s,,classes=1+2#0,s-a00000,failed,,,,,,,,,0,0,0.000000,0,0,0.000000,0,0,0,"
        "\"model \"\"x\"\", gone\",,0,\n");
}

// A device chooses its id and its individual's name; a researcher opens the export in a
// spreadsheet. Formula-like text is written as text; numbers and a table's "-" stay as they are.
TEST_CASE("a CSV field that a spreadsheet would run as a formula is written as text",
          "[scenario]") {
  CHECK(csv_field("=HYPERLINK(\"http://x\",\"y\")") ==
        "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  CHECK(csv_field("@SUM(A1)") == "'@SUM(A1)");
  CHECK(csv_field("+cmd") == "'+cmd");
  CHECK(csv_field("-A1") == "'-A1");
  CHECK(csv_field("\tx") == "'\tx");
  for (const std::string plain : {"-0.25", "+1.5", "-.5", "- 3", "-", "+", "", "classes=1+2#0",
                                  "device=cam", "dev-1", "+1.2 ± 0.3"}) {
    INFO(plain);
    CHECK(csv_field(plain) == plain);
  }
  RunResults r;
  IndividualRow row;
  row.individual = "device==1+1";
  row.agent_id = "=1+1";
  r.rows.push_back(row);
  std::string csv = to_csv(r);
  CHECK(csv.find(",device==1+1,'=1+1,") != std::string::npos);
  // In Markdown tables, a '|' or a line break in a name stays inside its cell.
  report::ReportTable t;
  t.header = {"individual", "gain"};
  t.md_rows = {{"a|b\nc", "+1.0"}};
  CHECK(t.markdown() == "| individual | gain |\n|---|---:|\n| a\\|b c | +1.0 |\n");
}

TEST_CASE("one individual's figures show no spread and no interval, two show both", "[scenario]") {
  // One value: its mean alone ("81.0 ± 0.0" and a bootstrap interval [x, x] read as
  // measured); "-" where there is none.
  const Stat one = describe({0.81});
  const Stat two = describe({0.8, 0.9});
  CHECK(mean_spread_text(one, 100, 1) == "81.0");
  CHECK(mean_spread_text(two, 100, 1) == "85.0 ± 7.1");
  CHECK(mean_spread_text(describe({0.04, 0.02}), 100, 1, true) == "+3.0 ± 1.4");
  CHECK(mean_spread_text(describe({}), 100, 1) == "-");
  CHECK(interval_text(1, 0.03, 0.03, 100) == "-");
  CHECK(interval_text(2, -0.01, 0.025, 100) == "[-1.0, +2.5]");
  RunResults r;
  VariantSummary s;
  s.individuals = s.done = 1;
  s.general = describe({0.8});
  s.fine_prune = describe({0.9});
  s.gain = describe({0.1});
  s.sparsity = describe({0.5});
  s.mac_reduction = describe({0.4});
  r.summaries.push_back(s);
  const std::string single = format_summary(r);
  INFO(single);
  CHECK(single.find("±") == std::string::npos);
  CHECK(single.find("  fine-pruned accuracy     90.00% (n=1: no spread)\n") != std::string::npos);
  r.summaries[0].fine_prune = describe({0.9, 0.8});
  CHECK(format_summary(r).find("  fine-pruned accuracy     85.00% ± 7.07   (min 80.00, max 90.00, "
                               "n=2)\n") != std::string::npos);
}

TEST_CASE("a summary's sparsity and MAC reduction count devices without labels too", "[scenario]") {
  IndividualRow labeled, unlabeled;
  labeled.general = 0.8;
  labeled.fine_prune = 0.9;
  labeled.fine_pruned = true;
  labeled.sparsity = 0.5;
  labeled.macs_dense = 100;
  labeled.macs_fine_pruned = 40;
  // A device with no labels: Fine-Pruned, no accuracy (it was left out of both figures).
  unlabeled.evaluated = false;
  unlabeled.fine_pruned = true;
  unlabeled.sparsity = 0.3;
  unlabeled.macs_dense = 100;
  unlabeled.macs_fine_pruned = 80;
  const VariantSummary s = summarize_variant("v", {labeled, unlabeled}, {});
  CHECK(s.individuals == 2);
  CHECK(s.fine_prune.n == 1);
  CHECK(s.gain.n == 1);
  CHECK(s.sparsity.n == 2);
  CHECK(s.sparsity.mean == Approx(0.4));
  CHECK(s.mac_reduction.n == 2);
  CHECK(s.mac_reduction.mean == Approx(0.4));
  // Its SVD model's sparsity is exported too (it was blank without an SVD accuracy).
  unlabeled.svd_sparsity = 0.25;
  RunResults r;
  r.rows = {unlabeled};
  const std::string csv = to_csv(r);
  const std::string header = csv.substr(0, csv.find('\n'));
  const std::string line = csv.substr(header.size() + 1);
  const auto cells_of = [](const std::string& text) {
    std::vector<std::string> cells;
    std::stringstream in(text);
    for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
    return cells;
  };
  const auto names = cells_of(header), values = cells_of(line);
  const auto at = std::find(names.begin(), names.end(), "svd_sparsity") - names.begin();
  REQUIRE(static_cast<size_t>(at) < values.size());
  CHECK(values[static_cast<size_t>(at)] == "0.250000");
  CHECK(nlohmann::json::parse(to_json(r))["rows"][0]["svd_sparsity"] == 0.25);
}

TEST_CASE("a campaign's progress note counts running and failed tasks and live agents",
          "[scenario]") {
  ProgressState s;
  s.total = 100;
  s.done = 20;
  s.failed = 5;
  s.running = 8;
  CHECK(s.finished() == 25);
  CHECK(progress_note(s) == "8 running, 5 failed");
  s.live_agents = 16;
  s.computing = 2;
  CHECK(progress_note(s) == "8 running, 5 failed; agents: 16 connected, 2 computing");
}

TEST_CASE("fp-sim run's overrides are noted in the recorded text and read back from it",
          "[scenario]") {
  auto s = parse_scenario(std::string(kMinimal) + "[partition]\nseed = 3\n", "o.toml");
  REQUIRE(s.ok());
  ScenarioOverrides o;
  o.seed = 11;
  o.individuals = 30;
  o.hosts = 3;
  o.workers = 2;
  o.connected = 5;
  o.mode = HostingMode::kExternal;
  o.endpoint = "ipc:///tmp/fp\"\\.sock";  // quotes and backslashes survive the note
  o.methods = "svd,finetune";
  Scenario run = *s;
  REQUIRE(apply_overrides(run, o).ok());
  CHECK(run.seed == 11);
  CHECK(run.partition.seed == 3);  // [partition] sets its own
  CHECK(run.partition.num_individuals == 30);
  CHECK(run.hosting.mode == HostingMode::kExternal);
  CHECK(run.overrides.size() == 8);
  CHECK(run.overrides[6] == R"(hosting.endpoint = "ipc:///tmp/fp\"\\.sock")");

  const std::string recorded = text_with_overrides(run);
  auto back = recorded_scenario(recorded, "fp.db (run 1)");
  INFO(back.status().to_string());
  REQUIRE(back.ok());
  CHECK(back->text == recorded);  // as recorded, not noted twice
  CHECK(back->overrides == run.overrides);
  CHECK(back->seed == 11);
  CHECK(back->partition.seed == 3);
  CHECK(back->partition.num_individuals == 30);
  CHECK(back->hosting.hosts == 3);
  CHECK(back->hosting.workers == 2);
  CHECK(back->hosting.connected == 5);
  CHECK(back->hosting.mode == HostingMode::kExternal);
  CHECK(back->hosting.endpoint == *o.endpoint);
  CHECK(back->baselines.methods == std::vector<std::string>{"svd", "finetune"});

  // No note: no override; a note naming something fp-sim run never overrides is refused.
  auto plain = recorded_overrides(std::string(kMinimal), "x");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->seed.has_value());
  CHECK_FALSE(plain->methods.has_value());
  auto odd = recorded_overrides(
      "# fp-sim run overrode, after reading this file:\n#   general.epochs = 3\n" +
          std::string(kMinimal),
      "fp.db (run 2)");
  REQUIRE_FALSE(odd.ok());
  CHECK_THAT(odd.status().message(),
             Catch::Contains("fp.db (run 2)") && Catch::Contains("unknown key 'general'"));
  ScenarioOverrides none_left;
  none_left.methods = "none";
  Scenario alone = *s;
  REQUIRE(apply_overrides(alone, none_left).ok());
  auto none_back = recorded_scenario(text_with_overrides(alone), "y");
  REQUIRE(none_back.ok());
  CHECK(none_back->baselines.methods.empty());
  ScenarioOverrides zero;
  zero.hosts = 0;
  CHECK_FALSE(apply_overrides(alone, zero).ok());
  // Checked as the scenario file's keys are: an endpoint no socket binds failed after the
  // general model trained, and its run could only go on by failing again.
  ScenarioOverrides udp;
  udp.endpoint = "foo://x";
  Scenario bad = *s;
  CHECK(apply_overrides(bad, udp).message() ==
        "hosting.endpoint must start with tcp:// or ipc:// (overridden on the command line)");
  ScenarioOverrides many;
  many.workers = 300;
  CHECK(apply_overrides(bad, many).message() ==
        "hosting.workers must be in [1, 256] (overridden on the command line)");
  // A natural partition has no count to override (it was ignored, and recorded as applied).
  auto natural = parse_scenario(
      "name = \"n\"\n[data]\ndataset = \"fsdd\"\n[partition]\nmethod = \"natural\"\n", "n.toml");
  REQUIRE(natural.ok());
  ScenarioOverrides three;
  three.individuals = 3;
  CHECK_THAT(apply_overrides(*natural, three).message(),
             Catch::StartsWith("--individuals is for the drawn partitions: method = \"natural\""));
  CHECK(natural->overrides.empty());
}

TEST_CASE("a restarted host skips the agents its journal lists as finished", "[scenario]") {
  auto s = parse_scenario("name = \"j\"\n[partition]\nindividuals = 3\nsamples = 20\n", "j.toml");
  REQUIRE(s.ok());
  auto population = load_population(*s);
  REQUIRE(population.ok());
  auto dir = std::filesystem::temp_directory_path() /
             ("fp_scenario_journal_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream journal(dir / "finished.log");
    for (size_t i = 0; i < 2; ++i) journal << agent_id(*s, i) << "\n";
  }
  CHECK(read_host_journal(dir.string()) ==
        std::map<std::string, int64_t>{{agent_id(*s, 0), 0}, {agent_id(*s, 1), 0}});
  // Added by a resumed run: only what is not there yet; an agent with tasks left says how
  // many, and its last line wins.
  auto added = add_to_host_journal(dir.string(), {{agent_id(*s, 1), 0}, {agent_id(*s, 2), 2}});
  REQUIRE(added.ok());
  CHECK(*added == 1);
  CHECK(read_host_journal(dir.string()).at(agent_id(*s, 2)) == 2);
  added = add_to_host_journal(dir.string(), {{agent_id(*s, 2), 0}});
  REQUIRE(added.ok());
  CHECK(*added == 1);
  CHECK(fp::testing::read_file((dir / "finished.log").string()) ==
        agent_id(*s, 0) + "\n" + agent_id(*s, 1) + "\n" + agent_id(*s, 2) + " 2\n" +
            agent_id(*s, 2) + "\n");
  CHECK(read_host_journal(dir.string()).at(agent_id(*s, 2)) == 0);
  HostOptions o;
  o.coordinator = "tcp://127.0.0.1:1";  // nobody listens: no agent may try
  o.work_dir = dir.string();
  AgentHost host(o, *s, *population);
  REQUIRE(host.run(host_share(3, 0, 1)).ok());
  auto p = host.progress();
  CHECK(p.total == 3);
  CHECK(p.finished == 3);
  CHECK(p.live == 0);
  CHECK(host.meter().tasks == 0);
  CHECK(std::filesystem::is_empty(dir / "agents"));  // no private data was written
  std::filesystem::remove_all(dir);
}

TEST_CASE("a run's coordinator allows its hosts' shared connections more than a device's",
          "[scenario]") {
  auto shared = parse_scenario(
      "name = \"s\"\n[hosting]\nworkers = 3\nheartbeat_ms = 250\nliveness = 7\n"
      "max_attempts = 4\nsecurity = \"plain\"\n",
      "s.toml");
  REQUIRE(shared.ok());
  const coord::ServerConfig device;  // what fp-coordinator's devices get by default
  const coord::ServerConfig s = server_config_for(*shared);
  CHECK(s.commit_delay_ms == 30);  // a run groups its commits
  auto quick = parse_scenario("name = \"q\"\n[hosting]\nheartbeat_ms = 40\n", "q.toml");
  REQUIRE(quick.ok());
  CHECK(server_config_for(*quick).commit_delay_ms == 20);  // at most half a heartbeat interval
  CHECK(coord::check_server_config(server_config_for(*quick)).ok());
  CHECK(s.heartbeat_ms == 250);
  CHECK(s.liveness == 7);
  CHECK(s.max_attempts == 4);
  CHECK(s.security.plain);
  CHECK(s.exit_when_done);
  CHECK(s.max_sessions_per_key == 2 * 12 + 4);  // connected: 4 x workers
  CHECK(s.rate_limit == 10 * device.rate_limit);
  CHECK(s.rate_burst == 10 * device.rate_burst);
  auto own = parse_scenario("name = \"p\"\n[hosting]\nconnections = \"per-agent\"\n", "p.toml");
  REQUIRE(own.ok());
  const coord::ServerConfig p = server_config_for(*own);
  CHECK(p.rate_limit == device.rate_limit);
  CHECK(p.rate_burst == device.rate_burst);
  CHECK_FALSE(p.security.plain);
}

TEST_CASE("live agents' folders go to memory unless asked for disk or kept", "[scenario]") {
  auto disk = parse_scenario(
      "name = \"d\"\n[hosting]\nagent_folders = \"disk\"\nworkers = 3\nconnected = 5\n"
      "threads_per_worker = 2\nkeep_private_data = true\nsecurity = \"plain\"\n"
      "compute_nice = 7\nconnections = \"per-agent\"\nprivate_data = \"file\"\ndownloads = "
      "\"file\"\n",
      "d.toml");
  REQUIRE(disk.ok());
  CHECK_FALSE(disk->hosting.folders_in_memory);
  // Both kinds of host (threads of fp-sim run, fp-sim host processes) take these options.
  const HostOptions from = host_options_for(*disk);
  CHECK_FALSE(from.folders_in_memory);
  CHECK_FALSE(from.private_data_in_memory);
  CHECK_FALSE(from.downloads_in_memory);
  CHECK(from.keep_private_data);
  CHECK(from.workers == 3);
  CHECK(from.connected == 5);
  CHECK(from.threads_per_worker == 2);
  CHECK(from.compute_nice == 7);
  CHECK(from.tasks_per_agent == 1);
  CHECK(from.security.plain);
  CHECK_FALSE(from.share_connections);
  const HostOptions defaults = host_options_for(*parse_scenario("name = \"m\"\n", "m.toml"));
  CHECK(defaults.folders_in_memory);
  CHECK(defaults.private_data_in_memory);
  CHECK(defaults.downloads_in_memory);
  CHECK(defaults.share_connections);
  CHECK(defaults.compute_nice == 5);
  for (const char* bad : {"-1", "20"}) {
    auto refused =
        parse_scenario(std::string("name = \"n\"\n[hosting]\ncompute_nice = ") + bad, "n.toml");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().message().find("compute_nice") != std::string::npos);
  }

  TempDir work, memory;
  HostOptions o;
  o.work_dir = work.path.string();
  o.folders_in_memory = true;
  bool in_memory = false;
  auto root = make_agent_folders_root(o, in_memory, memory.path.string());
  REQUIRE(root.ok());
  CHECK(in_memory);
  CHECK(std::filesystem::path(*root).parent_path() == memory.path);
  CHECK(std::filesystem::is_directory(*root));
  // Private data: only the owner may enter.
  CHECK((std::filesystem::status(*root).permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_all);
  // A second host of the same process gets its own folder, and leaves the first alone
  // (its process is alive) while it removes the folder of a host that was killed.
  const auto orphan = memory.path / "fineprune-agents-999999999-0";
  std::filesystem::create_directories(orphan / "duo-a00001");
  { std::ofstream(orphan / "duo-a00001" / "private.bin") << "private"; }
  const auto unrelated = memory.path / "fineprune-agents-notes";
  std::filesystem::create_directories(unrelated);
  auto second = make_agent_folders_root(o, in_memory, memory.path.string());
  REQUIRE(second.ok());
  CHECK(*second != *root);
  CHECK(std::filesystem::is_directory(*root));
  CHECK_FALSE(std::filesystem::exists(orphan));
  CHECK(std::filesystem::is_directory(unrelated));

  const std::string on_disk = (work.path / "agents").string();
  o.keep_private_data = true;  // kept files must outlast the run: disk
  REQUIRE(make_agent_folders_root(o, in_memory, memory.path.string()).value() == on_disk);
  CHECK_FALSE(in_memory);
  o.keep_private_data = false;
  o.folders_in_memory = false;
  REQUIRE(make_agent_folders_root(o, in_memory, memory.path.string()).value() == on_disk);
  CHECK_FALSE(in_memory);
  o.folders_in_memory = true;  // no such memory folder: disk, not an error
  REQUIRE(make_agent_folders_root(o, in_memory, memory.file("absent")).value() == on_disk);
  CHECK_FALSE(in_memory);
  // Too little free memory there (asking for more than any machine has): disk.
  REQUIRE(make_agent_folders_root(o, in_memory, memory.path.string(), uint64_t{1} << 62).value() ==
          on_disk);
  CHECK_FALSE(in_memory);
  CHECK(std::filesystem::is_directory(on_disk));
}

TEST_CASE("scenarios choose their security and privacy noise explicitly", "[scenario][security]") {
  auto d = parse_scenario("name = \"x\"\n", "t.toml");
  REQUIRE(d.ok());
  CHECK_FALSE(d->hosting.plain);  // CURVE unless the scenario says plain
  CHECK_FALSE(d->privacy.enabled());
  CHECK_FALSE(
      nlohmann::json::parse(d->variants[0].assignment_json(d->privacy)).contains("privacy"));

  auto s = parse_scenario(
      "name = \"x\"\n[hosting]\nsecurity = \"plain\"\n[privacy]\nmechanism = \"laplace\"\n"
      "epsilon = 0.5\n",
      "t.toml");
  REQUIRE(s.ok());
  CHECK(s->hosting.plain);
  CHECK(s->privacy.mechanism == security::NoiseMechanism::kLaplace);
  CHECK(s->privacy.epsilon == 0.5);
  auto j = nlohmann::json::parse(s->variants[0].assignment_json(s->privacy));
  CHECK(j["privacy"] == nlohmann::json{{"mechanism", "laplace"}, {"epsilon", 0.5}});

  CHECK(error_of("name = \"x\"\n[hosting]\nsecurity = \"tls\"\n") ==
        "test.toml:3: hosting.security must be \"curve\" or \"plain\", not \"tls\"");
  CHECK(error_of("name = \"x\"\n[privacy]\nmechanism = \"gaussian\"\nepsilon = 2.0\n")
            .find("test.toml:3: privacy: the Gaussian mechanism's guarantee needs epsilon < 1") ==
        0);
  CHECK(
      error_of("name = \"x\"\n[privacy]\nepsilonn = 1\n").find("unknown key 'privacy.epsilonn'") !=
      std::string::npos);

  for (auto [name, plain] : {std::pair<const char*, bool>{"smoke", false},
                             {"fashion_mnist_2class", true},
                             {"fsdd_speakers", false},
                             {"bench_1000", true}}) {
    auto shipped =
        load_scenario(std::string(FP_SOURCE_DIR) + "/simulations/scenarios/" + name + ".toml");
    REQUIRE(shipped.ok());
    CHECK(shipped->hosting.plain == plain);
    CHECK(shipped->text.find("security = ") != std::string::npos);  // chosen, not defaulted
  }
}

TEST_CASE("partition classes and best_classes are read and checked", "[scenario]") {
  auto s = parse_scenario(
      "name = \"b\"\n[data]\ngeneral_samples = 5000\n[partition]\nk = 2\n"
      "best_classes = 4\n",
      "b.toml");
  REQUIRE(s.ok());
  CHECK(s->best_classes == 4);
  CHECK(s->partition.classes.empty());
  s = parse_scenario("name = \"c\"\n[partition]\nclasses = [7, 2, 5]\n", "c.toml");
  REQUIRE(s.ok());
  CHECK(s->partition.classes == std::vector<int64_t>{7, 2, 5});
  CHECK(s->best_classes == 0);

  CHECK_THAT(error_of("name = \"x\"\n[partition]\nclasses = [1, -2]\n"),
             Catch::Contains("partition.classes") && Catch::Contains(">= 0"));
  CHECK_THAT(error_of("name = \"x\"\n[data]\ngeneral_samples = 100\n[partition]\nk = 3\n"
                      "best_classes = 2\n"),
             Catch::Contains("partition.best_classes") && Catch::Contains("at least k (3)"));
  CHECK_THAT(error_of("name = \"x\"\n[partition]\nbest_classes = 4\n"),
             Catch::Contains("general_samples > 0"));
  CHECK_THAT(error_of("name = \"x\"\n[data]\ndataset = \"fsdd\"\n[partition]\n"
                      "method = \"natural\"\nbest_classes = 4\n"),
             Catch::Contains("natural"));
  CHECK(
      error_of("name = \"x\"\n[data]\ndataset = \"fsdd\"\n[partition]\n"
               "method = \"natural\"\nindividuals = 3\n") ==
      "test.toml:6: partition.individuals is for the drawn partitions: method = \"natural\" takes "
      "every group of the data (a speaker, a person) as one individual");
  CHECK_THAT(error_of("name = \"x\"\n[data]\ndataset = \"fsdd\"\n[partition]\n"
                      "best_classes = 4\n"),
             Catch::Contains("fashion-mnist"));
  CHECK_THAT(error_of("name = \"x\"\n[partition]\nbest_classes = 3\nclasses = [1, 2]\n"),
             Catch::Contains("holds 2 classes but best_classes is 3"));
}

TEST_CASE("a best_classes pick is recorded in the scenario text hosts read", "[scenario]") {
  const std::string text =
      "name = \"b\"  # a comment\n[data]\ngeneral_samples = 5000\n\n  [ partition ]  # why\n"
      "k = 2\nindividuals = 6\nbest_classes = 3\n[general]\nepochs = 1\n";
  auto before = parse_scenario(text, "b.toml");
  REQUIRE(before.ok());
  // A host cannot draw the population before the pick exists.
  auto refused = load_population(*before);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains("picked by `fp-sim run`"));

  auto recorded = with_partition_classes(text, {1, 5, 8}, "picked by a test");
  REQUIRE(recorded.ok());
  CHECK_THAT(*recorded, Catch::Contains("classes = [1, 5, 8]  # picked by a test"));
  CHECK_THAT(*recorded, Catch::Contains("# a comment"));  // the rest is kept as written
  auto after = parse_scenario(*recorded, "b.toml");
  REQUIRE(after.ok());
  CHECK(after->partition.classes == std::vector<int64_t>{1, 5, 8});
  CHECK(after->partition.k == 2);
  CHECK(after->general.epochs == 1);
  auto population = load_population(*after);
  REQUIRE(population.ok());
  for (const auto& ind : population->individuals) {
    for (int64_t c : ind.classes) CHECK((c == 1 || c == 5 || c == 8));
  }

  auto no_table = with_partition_classes("name = \"n\"\n", {1, 2}, "x");
  REQUIRE_FALSE(no_table.ok());
  CHECK_THAT(no_table.status().message(), Catch::Contains("no [partition] header"));
  // A second pick into a text that holds one already would set the key twice.
  CHECK_FALSE(with_partition_classes(*recorded, {1, 5, 8}, "again").ok());
}

TEST_CASE("best classes are the highest per-class accuracies, ties to the lower label",
          "[scenario]") {
  const std::vector<double> scores = {0.5, 0.9, -1, 0.7, 0.9, 0.2};
  auto two = best_classes(scores, 2);
  REQUIRE(two.ok());
  CHECK(*two == std::vector<int64_t>{1, 4});
  auto four = best_classes(scores, 4);
  REQUIRE(four.ok());
  CHECK(*four == std::vector<int64_t>{0, 1, 3, 4});  // ascending labels
  auto tie = best_classes({0.8, 0.8, 0.8}, 1);
  REQUIRE(tie.ok());
  CHECK(*tie == std::vector<int64_t>{0});
  // Class 2 has no samples to be scored on: never picked, so 6 are too many.
  auto too_many = best_classes(scores, 6);
  REQUIRE_FALSE(too_many.ok());
  CHECK_THAT(too_many.status().message(), Catch::Contains("5 classes have samples"));
  CHECK_FALSE(best_classes(scores, 0).ok());
}
