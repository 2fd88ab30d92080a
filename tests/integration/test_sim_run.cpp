// fp-sim run end to end in this process: the CI smoke scenario (a few dozen virtual
// agents over loopback TCP, real Fine-Pruning), results in SQLite, exports, variants,
// and reproducibility: the same scenario and seed give the same partitions and numbers.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "count_of.h"
#include "data/image_folder.h"
#include "image_folder_fixture.h"
#include "models/artifact.h"
#include "process_fixture.h"
#include "prune/shift_detector.h"
#include "report/experiment_report.h"
#include "report/pooled_report.h"
#include "report/run_results.h"
#include "report/seed_run_file.h"
#include "sim_scenarios.h"
#include "simulation/class_selection.h"
#include "simulation/population.h"
#include "simulation/run_check.h"
#include "simulation/simulation.h"
#include "store/run_store.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "temp_dir.h"
#include "test_paths.h"
#include "train/evaluator.h"
#include "train/spread_calibration.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;
using namespace fp::sim;
using namespace fp::report;
namespace fs = std::filesystem;

namespace {

using fp::testing::kSim;
using fp::testing::kTwoVariants;
using fp::testing::TempDir;

Scenario parse(const std::string& text) {
  auto s = parse_scenario(text, "inline.toml");
  INFO(s.status().to_string());
  REQUIRE(s.ok());
  return std::move(s).value();
}

// A run into `out`, without progress output.
RunOptions quiet_options(const std::string& out) {
  RunOptions o;
  o.out_dir = out;
  o.progress = nullptr;
  return o;
}

RunOutcome run(const Scenario& s, const std::string& out) {
  RunOptions o = quiet_options(out);
  auto outcome = run_scenario(s, o);
  INFO(outcome.status().to_string());
  REQUIRE(outcome.ok());
  INFO(outcome->detail);
  REQUIRE(outcome->status == "done");
  return std::move(outcome).value();
}

std::unique_ptr<store::Store> open(const std::string& db) {
  auto s = store::Store::open(db);
  REQUIRE(s.ok());
  return std::move(s).value();
}

// The latest run recorded in the run folder `out`.
store::RunRecord latest_run(const std::string& out) {
  auto db = open(run_database(out));
  auto sim = store::RunStore::open(*db);
  REQUIRE(sim.ok());
  auto record = sim->run(0);
  REQUIRE(record.ok());
  return std::move(record).value();
}

// A few seconds: 8 agents, a tiny CNN trained on 1000 images.
const char* kTiny = R"(
name = "tiny"
seed = 5
[data]
general_samples = 1000
[partition]
individuals = 8
samples = 60
disjoint = false
[general]
width_mult = 0.25
threads = 1
[fineprune]
sweep = [0.5]
[baselines]
methods = ["finetune"]
finetune_epochs = 1
[hosting]
workers = 2
connected = 4
heartbeat_ms = 200
)";

}  // namespace

TEST_CASE("the CI smoke scenario runs end to end and its results land in SQLite", "[sim]") {
  auto loaded = load_scenario(std::string(FP_SOURCE_DIR) + "/simulations/scenarios/smoke.toml");
  REQUIRE(loaded.ok());
  const Scenario& s = *loaded;
  REQUIRE(s.partition.num_individuals == 24);
  TempDir dir;
  auto outcome = run(s, dir.file("run"));
  auto db = open(outcome.db_path);

  auto population = load_population(s);
  REQUIRE(population.ok());
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < population->individuals.size(); ++i) {
    index_of[population->individuals[i].name] = i;
  }
  REQUIRE(index_of.size() == 24);

  auto campaigns = db->campaigns();
  REQUIRE(campaigns.ok());
  REQUIRE(campaigns->size() == 1);
  CHECK((*campaigns)[0].name == "smoke");
  CHECK((*campaigns)[0].status == "done");
  // The general model was scored on the samples it never trained on (Fashion-MNIST: the
  // whole test split), and the stored figure is that model's accuracy there.
  auto model = db->find_model((*campaigns)[0].model_sha256);
  REQUIRE(model.ok());
  REQUIRE(model->has_value());
  auto meta = nlohmann::json::parse((*model)->meta_json);
  REQUIRE(meta.contains("heldout_accuracy"));
  CHECK(meta["heldout_samples"] == std::to_string(population->pool.size()));
  auto net = load_model((*model)->path);
  REQUIRE(net.ok());
  auto eval = evaluate(**net, population->pool);
  REQUIRE(eval.ok());
  CHECK(meta["heldout_accuracy"] == fmt::format("{:.4f}", eval->accuracy));
  auto tasks = db->tasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 24);
  for (const auto& t : *tasks) {
    INFO(t.individual << ": " << t.error);
    CHECK(t.status == "done");
    REQUIRE(index_of.count(t.individual));
    // The task went to the agent holding that individual's data, and only to it.
    CHECK(t.agent_id == agent_id(s, index_of[t.individual]));
    CHECK(t.attempts == 1);
  }

  auto rows = db->telemetry();
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 24 * 3);  // fine_prune, finetune, svd per individual
  std::map<std::string, std::map<std::string, store::TelemetryRecord>> by;
  for (const auto& r : *rows) by[r.individual][r.method] = r;
  REQUIRE(by.size() == 24);
  for (const auto& [individual, methods] : by) {
    INFO(individual);
    REQUIRE(methods.size() == 3);
    const auto& fp = methods.at("fine_prune");
    const auto& ind = population->individuals[index_of[individual]];
    CHECK(fp.adaptation_samples == static_cast<int64_t>(ind.adaptation.size()));
    CHECK(fp.eval_samples == static_cast<int64_t>(ind.evaluation.size()));
    CHECK(fp.adaptation_samples + fp.eval_samples == 120);
    REQUIRE(fp.accuracy_before.has_value());
    REQUIRE(fp.accuracy_after.has_value());
    CHECK(*fp.accuracy_after >= 0.0);
    CHECK(*fp.accuracy_after <= 1.0);
    CHECK(fp.sparsity >= 0.0);
    CHECK(fp.sparsity < 1.0);
    CHECK(fp.macs_effective <= fp.macs_dense);
    CHECK(nlohmann::json::parse(fp.curve_json).size() == 3);  // the scenario's sweep
    CHECK(nlohmann::json::parse(fp.layer_sparsity_json).size() >= 3);
    // Every method is measured against the same general model on the same data.
    CHECK(methods.at("finetune").accuracy_before == fp.accuracy_before);
    CHECK(methods.at("svd").accuracy_before == fp.accuracy_before);
    // The compute each method spent on the device travels with its report: Fine-Pruning's
    // forward passes, fine-tuning's forward and backward passes; SVD runs none.
    CHECK(fp.compute_macs > 0);
    CHECK(methods.at("finetune").compute_macs > 0);
    CHECK(methods.at("svd").compute_macs == 0);
    // The label-free figures a real device reports with its Fine-Pruned model, measured
    // on the individual's held-out inputs: the general model's mean top-class probability
    // there is what this test computes itself; only Fine-Pruning's report carries them.
    REQUIRE(fp.mean_confidence_before.has_value());
    REQUIRE(fp.mean_confidence_after.has_value());
    REQUIRE(fp.agreement.has_value());
    const PrivateData data = private_data(*population, index_of[individual]);
    const double general_confidence =
        std::get<0>(predict_proba(**net, data.evaluation.inputs).max(1)).mean().item<double>();
    CHECK(*fp.mean_confidence_before == Approx(general_confidence).epsilon(1e-5));
    CHECK(*fp.mean_confidence_after > 0.0);
    CHECK(*fp.mean_confidence_after <= 1.0);
    CHECK(*fp.agreement >= 0.0);
    CHECK(*fp.agreement <= 1.0);
    CHECK_FALSE(methods.at("finetune").agreement.has_value());
  }

  // The run's own record, and the table and summary built from the rows.
  auto sim = store::RunStore::open(*db);
  REQUIRE(sim.ok());
  auto record = sim->run(outcome.run_id);
  REQUIRE(record.ok());
  CHECK(record->status == "done");
  CHECK(record->seed == 7);
  CHECK(record->scenario_toml == s.text);
  auto stats = nlohmann::json::parse(record->stats_json);
  CHECK(stats["tasks_done"] == 24);
  CHECK(stats["telemetry_rows"] == 72);
  CHECK(stats["compute_seconds"].get<double>() > 0);
  // A task's whole CPU on its compute thread holds personalize()'s and its loads'.
  CHECK(stats["job_cpu_seconds"].get<double>() > stats["compute_cpu_seconds"].get<double>());
  CHECK(stats["job_cpu_seconds"].get<double>() < stats["campaign_cpu_seconds"].get<double>());
  // 8 agents connected to 2 compute slots: most tasks waited for one.
  CHECK(stats["wait_seconds"].get<double>() > 0);
  CHECK(stats["peak_rss_total_mb"].get<double>() > 0);
  // Each of the host's 8 slots opened a connection its agents took turns on (a reconnect
  // would add one); a connection an agent would make 24.
  CHECK(stats["connections"] == "shared");
  CHECK(stats["connections_opened"].get<int64_t>() >= 8);
  CHECK(stats["connections_opened"].get<int64_t>() < 24);

  auto results = read_results(*db, outcome.run_id);
  REQUIRE(results.ok());
  REQUIRE(results->rows.size() == 24);
  REQUIRE(results->summaries.size() == 1);
  const auto& summary = results->summaries[0];
  CHECK(summary.done == 24);
  CHECK(summary.gain.n == 24);
  double gain_sum = 0, sparsity_sum = 0;
  for (const auto& row : results->rows) {
    REQUIRE(row.gain().has_value());
    const auto& fp = by.at(row.individual).at("fine_prune");
    CHECK(*row.gain() == *fp.accuracy_after - *fp.accuracy_before);
    CHECK(row.finetune == by.at(row.individual).at("finetune").accuracy_after);
    gain_sum += *row.gain();
    sparsity_sum += row.sparsity;
  }
  CHECK(summary.gain.mean == Approx(gain_sum / 24));
  CHECK(summary.sparsity.mean == Approx(sparsity_sum / 24));

  // Exports of the same rows.
  std::string csv = to_csv(*results);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 25);
  auto json = nlohmann::json::parse(to_json(*results));
  CHECK(json["rows"].size() == 24);
  CHECK(json["summaries"][0]["gain"]["mean"].get<double>() == Approx(summary.gain.mean));
  CHECK(json["run"]["stats"]["tasks"] == 24);

  // Private data lived only while each agent did, in memory where the machine has
  // /dev/shm (the default agent_folders): nothing is left behind, on disk or in memory.
  REQUIRE(stats["agent_folders"].size() == 1);
  const std::string folders = stats["agent_folders"][0].get<std::string>();
  const fs::path on_disk = fs::path(dir.file("run")) / "hosts" / "0" / "agents";
  if (::access("/dev/shm", W_OK) == 0) {
    CHECK(folders.rfind("/dev/shm/fineprune-agents-", 0) == 0);
    CHECK_FALSE(fs::exists(folders));
    CHECK_FALSE(fs::exists(on_disk));
  } else {
    CHECK(folders == on_disk.string());
    CHECK(fs::is_empty(on_disk));
  }
}

TEST_CASE("two runs with the same seed give the same partitions and numbers", "[sim]") {
  Scenario s = parse(kTiny);
  auto p1 = load_population(s);
  auto p2 = load_population(s);
  REQUIRE(p1.ok());
  REQUIRE(p2.ok());
  REQUIRE(p1->individuals.size() == 8);
  for (size_t i = 0; i < 8; ++i) {
    CHECK(p1->individuals[i].name == p2->individuals[i].name);
    CHECK(p1->individuals[i].adaptation == p2->individuals[i].adaptation);
    CHECK(p1->individuals[i].evaluation == p2->individuals[i].evaluation);
  }

  // The second run's agents read their data from files the host wrote and kept and write
  // their downloads to files, where the first's hold both in memory (the defaults): the
  // same numbers either way.
  TempDir dir;
  auto a = run(s, dir.file("a"));
  Scenario with_files = s;
  with_files.hosting.private_data_in_memory = false;
  with_files.hosting.keep_private_data = true;
  with_files.hosting.downloads_in_memory = false;
  auto b = run(with_files, dir.file("b"));
  auto da = open(a.db_path), db = open(b.db_path);
  auto ma = da->models(), mb = db->models();
  REQUIRE(ma.ok());
  REQUIRE(mb.ok());
  REQUIRE(ma->size() == 1);
  CHECK((*ma)[0].sha256 == (*mb)[0].sha256);  // bit-identical general models
  for (size_t i = 0; i < 8; ++i) {
    const fs::path folder = fs::path(dir.file("b")) / "hosts" / "0" / "agents" / agent_id(s, i);
    INFO(folder.string());
    CHECK(fs::exists(folder / "models" / ((*mb)[0].sha256 + ".fpm")));
    auto kept = load_private_data((folder / "private.bin").string());
    REQUIRE(kept.ok());
    const PrivateData held = private_data(*p1, i);
    CHECK(torch::equal(kept->adaptation.inputs, held.adaptation.inputs));
    CHECK(torch::equal(kept->evaluation.labels, held.evaluation.labels));
  }

  auto key = [](const store::TelemetryRecord& r) { return r.individual + "/" + r.method; };
  std::map<std::string, store::TelemetryRecord> ra, rb;
  auto ta = da->telemetry(), tb = db->telemetry();
  REQUIRE(ta.ok());
  REQUIRE(tb.ok());
  for (const auto& r : *ta) ra[key(r)] = r;
  for (const auto& r : *tb) rb[key(r)] = r;
  REQUIRE(ra.size() == 16);
  REQUIRE(rb.size() == 16);
  for (const auto& [k, x] : ra) {
    INFO(k);
    REQUIRE(rb.count(k));
    const auto& y = rb.at(k);
    CHECK(x.agent_id == y.agent_id);
    CHECK(x.accuracy_before == y.accuracy_before);
    CHECK(x.accuracy_after == y.accuracy_after);
    CHECK(x.sparsity == y.sparsity);
    CHECK(x.target_sparsity == y.target_sparsity);
    CHECK(x.layer_sparsity_json == y.layer_sparsity_json);
    CHECK(x.curve_json == y.curve_json);
  }

  // Another seed: other individuals.
  Scenario other = s;
  set_seed(other, 6);
  auto p3 = load_population(other);
  REQUIRE(p3.ok());
  bool differs = false;
  for (size_t i = 0; i < 8; ++i) {
    differs = differs || p3->individuals[i].adaptation != p1->individuals[i].adaptation;
  }
  CHECK(differs);
}

TEST_CASE("scenario privacy noise is reproducible and stored with its epsilon", "[sim][privacy]") {
  const std::string privacy = "[privacy]\nmechanism = \"laplace\"\nepsilon = 1.0\n";
  Scenario noisy = parse(std::string(kTiny) + privacy);  // CURVE (the default)
  Scenario clean = parse(std::string(kTiny) + "security = \"plain\"\n");
  REQUIRE(clean.hosting.plain);
  TempDir dir;
  auto a = open(run(noisy, dir.file("a")).db_path);
  auto b = open(run(noisy, dir.file("b")).db_path);
  auto c = open(run(clean, dir.file("c")).db_path);
  auto rows = [](store::Store& db) {
    std::map<std::string, store::TelemetryRecord> out;
    auto t = db.telemetry();
    REQUIRE(t.ok());
    for (const auto& r : *t) out[r.individual + "/" + r.method] = r;
    return out;
  };
  auto ra = rows(*a), rb = rows(*b), rc = rows(*c);
  REQUIRE(ra.size() == 16);
  REQUIRE(rc.size() == 16);
  int moved = 0;
  for (const auto& [k, x] : ra) {
    INFO(k);
    REQUIRE(rb.count(k));
    REQUIRE(rc.count(k));
    CHECK(x.dp_mechanism == "laplace");
    CHECK(x.dp_epsilon == std::optional<double>(1.0));
    CHECK(rc.at(k).dp_mechanism.empty());
    CHECK(x.accuracy_after == rb.at(k).accuracy_after);  // the same noise, run after run
    // Laplace with b = (1/n)/epsilon: within 10 b of the noiseless value.
    const double scale = 1.0 / static_cast<double>(x.eval_samples);
    CHECK(std::abs(*x.accuracy_after - *rc.at(k).accuracy_after) <= 10 * scale);
    moved += *x.accuracy_after != *rc.at(k).accuracy_after;
  }
  CHECK(moved >= 8);
}

TEST_CASE("variants become campaigns and each agent does one task per variant", "[sim]") {
  Scenario s = parse(std::string(kTiny) + kTwoVariants);
  s.partition.num_individuals = 4;
  s.hosting.hosts = 6;  // two would hold no individual: they are not started
  TempDir dir;
  auto outcome = run(s, dir.file("run"));
  auto db = open(outcome.db_path);
  auto campaigns = db->campaigns();
  REQUIRE(campaigns->size() == 2);
  CHECK((*campaigns)[0].name == "tiny/fixed-30");
  CHECK((*campaigns)[1].name == "tiny/fixed-60");
  auto results = read_results(*db, outcome.run_id);
  REQUIRE(results.ok());
  REQUIRE(results->summaries.size() == 2);
  REQUIRE(results->rows.size() == 8);
  for (const auto& row : results->rows) {
    INFO(row.variant << " " << row.individual);
    CHECK(row.status == "done");
    CHECK(row.target_sparsity == (row.variant == "fixed-30" ? 0.3 : 0.6));
    // Unit pruning lands near, not exactly on, the weight-sparsity target.
    CHECK(row.sparsity == Approx(row.target_sparsity).margin(0.15));
  }
  CHECK(results->summaries[1].sparsity.mean > results->summaries[0].sparsity.mean);
  // Agent k did both of its individual's tasks.
  std::map<std::string, int> per_agent;
  auto tasks = db->tasks();
  REQUIRE(tasks.ok());
  for (const auto& t : *tasks) ++per_agent[t.agent_id];
  CHECK(per_agent.size() == 4);
  for (const auto& [agent, n] : per_agent) CHECK(n == 2);
}

TEST_CASE("a run is described without being run, in the counts the run then makes", "[sim]") {
  // fp-sim run --check: what a scenario of hours would do, said before it starts.
  Scenario s = parse(std::string(kTiny) + kTwoVariants);
  s.partition.num_individuals = 4;
  s.hosting.hosts = 6;  // two would hold no individual: they are not started
  TempDir dir;
  const std::string out = dir.file("run");
  REQUIRE(check_run_folder(quiet_options(out)).ok());
  auto lines = describe_run(s);
  REQUIRE(lines.ok());
  CHECK_FALSE(std::filesystem::exists(out));  // nothing written
  auto outcome = run(s, out);
  auto db = open(outcome.db_path);
  const size_t campaigns = db->campaigns()->size(), tasks = db->tasks()->size();
  auto model = db->find_model(db->campaigns()->front().model_sha256);
  REQUIRE(model.ok());
  REQUIRE(model->has_value());
  const std::string trained_on =
      nlohmann::json::parse((*model)->meta_json)["train_samples"].get<std::string>();
  INFO(fmt::format("{}", fmt::join(*lines, "\n")));
  REQUIRE(lines->size() == 4);
  CHECK_THAT((*lines)[0], Catch::StartsWith("4 individual(s) from fashion-mnist"));
  CHECK_THAT((*lines)[1], Catch::EndsWith("trained on " + trained_on + " sample(s)"));
  CHECK_THAT((*lines)[2], Catch::StartsWith(fmt::format("{} campaign(s), {} task(s); each task "
                                                        "runs fine_prune",
                                                        campaigns, tasks)));
  CHECK((*lines)[3] ==
        "hosting: in-process, 4 host(s) x 2 worker(s) (hosting.hosts = 6: one per individual)");
  CHECK(nlohmann::json::parse(outcome.stats_json)["hosts"] == 4);
  CHECK(fs::exists(fs::path(out) / "hosts" / "3"));
  CHECK_FALSE(fs::exists(fs::path(out) / "hosts" / "4"));
  // The folder as a second run finds it: refused without --fresh, taken with --resume.
  CHECK_THAT(check_run_folder(quiet_options(out)).message(),
             Catch::Contains("already holds a run"));
  RunOptions resume = quiet_options(out);
  resume.resume = true;
  CHECK(check_run_folder(resume).ok());
  resume.out_dir = dir.file("none");
  CHECK(check_run_folder(resume).code() == Status::Code::kNotFound);
}

TEST_CASE("the experiment report's tables and figures hold the stored numbers", "[sim]") {
  Scenario s = parse(std::string(kTiny) + R"(
[[fineprune.variants]]
name = "n10"
adaptation_samples = 10
[[fineprune.variants]]
name = "n20"
adaptation_samples = 20
)");
  s.partition.num_individuals = 4;
  s.partition.k_values = {1, 2};
  TempDir dir;
  auto outcome = run(s, dir.file("run"));
  auto db = open(outcome.db_path);
  auto results = read_results(*db, outcome.run_id);
  REQUIRE(results.ok());
  REQUIRE(results->rows.size() == 8);
  for (const auto& row : results->rows) {
    INFO(row.variant << " " << row.individual);
    CHECK(row.adaptation_samples == (row.variant == "n10" ? 10 : 20));
    CHECK(row.classes == (row.individual.find('+') == std::string::npos ? 1 : 2));
    CHECK(row.fine_prune_compute_macs > 0);
    CHECK(row.finetune_compute_macs > 0);
  }

  const std::string out = dir.file("report");
  auto written = write_experiment_report(*db, *results, out);
  INFO(written.status().to_string());
  REQUIRE(written.ok());
  for (const char* name :
       {"summary.csv", "summary.md", "individuals.csv", "individuals.md", "compute.csv",
        "compute.md", "gain.svg", "by_variant.csv", "by_variant.svg", "by_classes.csv",
        "by_classes_n10.svg", "by_classes_n20.svg", "campaigns/tiny_n10/accuracy.svg",
        "campaigns/tiny_n20/curve.svg", "comparisons.csv", "comparisons.md"}) {
    INFO(name);
    CHECK(fs::exists(fs::path(out) / name));
  }
  // Every Markdown table's rows have as many cells as its header (comparisons.md's interval
  // is one cell for the CSV's two: the values after it stood under the wrong names).
  for (const auto& entry : fs::recursive_directory_iterator(out)) {
    if (entry.path().extension() != ".md") continue;
    std::ifstream md(entry.path());
    std::string row;
    int64_t cells = -1;
    while (std::getline(md, row)) {
      if (row.rfind("|", 0) != 0) {
        cells = -1;  // a table ended
        continue;
      }
      const auto n = std::count(row.begin(), row.end(), '|') -
                     static_cast<int64_t>(fp::testing::count_of(row, "\\|"));
      INFO(entry.path().string() << ": " << row);
      if (cells < 0) cells = n;
      CHECK(n == cells);
    }
  }
  // summary.csv: one line per variant with the run's own means.
  std::ifstream summary(fs::path(out) / "summary.csv");
  std::string header, line;
  std::getline(summary, header);
  CHECK(header.rfind("variant,individuals,done,failed,general,fine_prune", 0) == 0);
  // Shares here, counts in comparisons.csv: not both named "improved".
  CHECK_THAT(header, Catch::Contains(",gain_p90,improved_share,worse_share,sparsity,"));
  for (const auto& v : results->summaries) {
    REQUIRE(std::getline(summary, line));
    INFO(line);
    CHECK(line.rfind(v.variant + ",4,4,0," + fmt::format("{:.6g}", v.general.mean) + "," +
                         fmt::format("{:.6g}", v.fine_prune.mean),
                     0) == 0);
  }
  // comparisons.csv: paired statistics, Fine-Pruning against the general model first.
  std::ifstream comparisons(fs::path(out) / "comparisons.csv");
  std::getline(comparisons, header);
  CHECK(header.rfind("variant,method,versus,n,mean_a,mean_b,mean_diff,median_diff,ci_low,"
                     "ci_high,p_wilcoxon,improved,worse",
                     0) == 0);
  REQUIRE(std::getline(comparisons, line));
  CHECK(line.rfind("n10,fine_prune,general,4,", 0) == 0);
  // by_variant.csv: x is the adaptation amount, in the scenario's order.
  std::ifstream by_variant(fs::path(out) / "by_variant.csv");
  std::getline(by_variant, header);
  CHECK(header == "variant,individuals,general,fine_prune,finetune,svd,gain");
  REQUIRE(std::getline(by_variant, line));
  CHECK(line.rfind("n10,4,", 0) == 0);
  // by_classes.csv: two class counts per variant, two individuals each, each row's means of
  // its own variant's rows (pooled over variants, the 10- and 20-sample results were mixed).
  std::ifstream by_classes(fs::path(out) / "by_classes.csv");
  std::getline(by_classes, header);
  CHECK(header == "variant,classes,individuals,general,fine_prune,finetune,svd,gain");
  for (const char* variant : {"n10", "n20"}) {
    for (int64_t k : {1, 2}) {
      std::vector<double> fine_prune;
      for (const auto& r : results->rows)
        if (r.variant == variant && r.classes == k) fine_prune.push_back(*r.fine_prune);
      REQUIRE(fine_prune.size() == 2);
      REQUIRE(std::getline(by_classes, line));
      INFO(line);
      std::vector<std::string> cells;
      std::stringstream fields(line);
      for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
      REQUIRE(cells.size() == 8);
      CHECK(cells[0] == variant);
      CHECK(cells[1] == std::to_string(k));
      CHECK(cells[2] == "2");
      CHECK(std::stod(cells[4]) == Approx((fine_prune[0] + fine_prune[1]) / 2).epsilon(1e-5));
    }
  }
  CHECK_FALSE(std::getline(by_classes, line));
  CHECK_FALSE(fs::exists(fs::path(out) / "by_classes.svg"));
}

TEST_CASE("a run's further methods have their columns in every table and export", "[sim]") {
  Scenario s = parse(kTiny);
  s.partition.num_individuals = 3;
  REQUIRE(set_baseline_methods(s, "finetune,em_prior,svd_macs").ok());
  TempDir dir;
  auto outcome = run(s, dir.file("run"));
  auto db = open(outcome.db_path);
  auto results = read_results(*db, outcome.run_id);
  REQUIRE(results.ok());
  REQUIRE(results->rows.size() == 3);
  CHECK(results->other_methods == std::vector<std::string>{"svd_macs", "em_prior"});
  // Each row's accuracy as its telemetry row stored it.
  auto telemetry = db->telemetry();
  REQUIRE(telemetry.ok());
  std::map<std::pair<std::string, std::string>, double> stored;
  for (const auto& t : *telemetry)
    if (t.accuracy_after) stored[{t.individual, t.method}] = *t.accuracy_after;
  std::vector<double> em;
  for (const auto& r : results->rows) {
    REQUIRE(r.other_accuracy.size() == 2);
    CHECK(r.other_accuracy.at("em_prior") == stored.at({r.individual, "em_prior"}));
    CHECK(r.other_accuracy.at("svd_macs") == stored.at({r.individual, "svd_macs"}));
    em.push_back(r.other_accuracy.at("em_prior"));
  }
  const Stat em_stat = results->summaries.at(0).other.at("em_prior");
  CHECK(em_stat.n == 3);
  CHECK(em_stat.mean == Approx((em[0] + em[1] + em[2]) / 3));

  // The console's table and summary.
  const std::string table = format_table(*results);
  const std::string header = table.substr(0, table.find('\n'));
  CHECK_THAT(header, Catch::Contains("svd_macs%") && Catch::Contains("em_prior%"));
  CHECK(header.find("svd_macs%") < header.find("em_prior%"));
  const auto& first = results->rows.front();
  CHECK_THAT(table,
             Catch::Contains(fmt::format("{:.1f}", 100 * first.other_accuracy.at("em_prior"))));
  CHECK_THAT(
      format_summary(*results),
      Catch::Contains(fmt::format("  {:<22} {:>7.2f}%", "em_prior accuracy", 100 * em_stat.mean)));
  // CSV: two columns a method, after the fixed ones.
  const std::string csv = to_csv(*results);
  CHECK_THAT(csv.substr(0, csv.find('\n')),
             Catch::EndsWith(",evaluated,svd_macs_accuracy,svd_macs_compute_macs,em_prior_accuracy,"
                             "em_prior_compute_macs"));
  const std::string line =
      csv.substr(csv.find('\n') + 1, csv.find('\n', csv.find('\n') + 1) - csv.find('\n') - 1);
  CHECK_THAT(line, Catch::Contains(fmt::format(",{:.6f},", first.other_accuracy.at("svd_macs"))));
  CHECK_THAT(line, Catch::EndsWith(fmt::format(",{:.6f},{}", first.other_accuracy.at("em_prior"),
                                               first.other_compute_macs.at("em_prior"))));
  // JSON: the same, and the columns only the CSV had.
  auto json = nlohmann::json::parse(to_json(*results));
  CHECK(json["other_methods"] == nlohmann::json({"svd_macs", "em_prior"}));
  const auto& row = json["rows"][0];
  CHECK(row["other_methods"]["em_prior"]["accuracy"].get<double>() ==
        first.other_accuracy.at("em_prior"));
  CHECK(row["finetune_compute_macs"].get<int64_t>() == first.finetune_compute_macs);
  CHECK(row["classes"].get<int64_t>() == first.classes);
  CHECK(json["summaries"][0]["other_accuracy"]["em_prior"]["mean"].get<double>() ==
        Approx(em_stat.mean));
  // The report's individuals table.
  auto written = write_experiment_report(*db, *results, dir.file("report"));
  REQUIRE(written.ok());
  std::ifstream individuals(dir.file("report/individuals.csv"));
  std::string head, body;
  std::getline(individuals, head);
  CHECK(head ==
        "variant,individual,general,fine_prune,sparsity,gain,finetune,svd,svd_macs,"
        "em_prior,status");
  REQUIRE(std::getline(individuals, body));
  CHECK_THAT(body,
             Catch::EndsWith(fmt::format(",{:.6g},done", first.other_accuracy.at("em_prior"))));
  // fp-sim report prints what the run printed: the table, the summary, where the time went.
  fp::testing::ChildProcess report({kSim, "report", "--db", dir.file("run")},
                                   dir.file("report.out"), dir.file("report.log"));
  REQUIRE(report.wait(std::chrono::seconds(60)) == 0);
  const std::string printed = fp::testing::read_file(dir.file("report.out"));
  CHECK_THAT(printed, Catch::Contains(header) && Catch::Contains(format_summary(*results)) &&
                          Catch::Contains(format_run_stats(results->run.stats_json)));
  CHECK_THAT(format_run_stats(results->run.stats_json),
             Catch::StartsWith("wall ") && Catch::Contains(" telemetry rows/s"));
}

TEST_CASE("a run directory holding a run is not overwritten without --fresh", "[sim]") {
  Scenario s = parse(kTiny);
  s.partition.num_individuals = 2;
  TempDir dir;
  run(s, dir.file("run"));
  RunOptions o = quiet_options(dir.file("run"));
  auto again = run_scenario(s, o);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().message().find("already holds a run") != std::string::npos);
  CHECK(again.status().message().find("--fresh") != std::string::npos);
  o.fresh = true;
  auto fresh = run_scenario(s, o);
  REQUIRE(fresh.ok());
  CHECK(fresh->status == "done");
  auto db = open(fresh->db_path);
  auto sim = store::RunStore::open(*db);
  CHECK(sim->runs()->size() == 1);

  // --fresh deletes run folders only: a folder of other files, or a file, is kept and refused.
  // (A plain run may go into a folder of other files: a Slurm campaign's job writes its
  // coordinator files into the run folder before fp-sim run starts.)
  const std::string notes = dir.file("notes");
  std::filesystem::create_directories(notes);
  std::ofstream(notes + "/thesis.tex") << "months of work";
  RunOptions wrong = quiet_options(notes);
  wrong.fresh = true;
  auto refused = run_scenario(s, wrong);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(),
             Catch::Contains("--fresh: " + notes + " is not a run folder") &&
                 Catch::Contains("thesis.tex") && Catch::Contains("nothing deleted"));
  CHECK(std::filesystem::exists(notes + "/thesis.tex"));
  for (bool fresh : {true, false}) {
    RunOptions file = quiet_options(notes + "/thesis.tex");
    file.fresh = fresh;
    CHECK_THAT(run_scenario(s, file).status().message(),
               Catch::Contains("--out " + notes + "/thesis.tex is a file, not a folder"));
  }
  CHECK(std::distance(std::filesystem::directory_iterator(notes),
                      std::filesystem::directory_iterator()) == 1);

  // --fresh on a new folder, and on an empty one, is a new run (the lock the run takes before
  // its second look at the folder is not "something else" there).
  for (const std::string& out : {dir.file("new/run"), dir.file("empty")}) {
    if (out == dir.file("empty")) std::filesystem::create_directories(out);
    RunOptions first = quiet_options(out);
    first.fresh = true;
    CHECK(check_run_folder(first).ok());
    auto made = run_scenario(s, first);
    REQUIRE(made.ok());
    CHECK(made->status == "done");
  }

  // A run folder another run (or a coordinator) is using: neither run into nor emptied.
  {
    auto busy = store::lock_database(run_database(dir.file("run")), "fp-sim run");
    REQUIRE(busy.ok());
    // Said to be going, whatever was asked: a plain rerun was told the folder "already holds
    // a run ... or start over with --fresh".
    for (int asked = 0; asked < 3; ++asked) {
      RunOptions both = quiet_options(dir.file("run"));
      both.fresh = asked == 1;
      both.resume = asked == 2;
      auto refused = run_scenario(s, both);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.status().code() == Status::Code::kUnavailable);
      CHECK_THAT(
          refused.status().message(),
          Catch::StartsWith("a run is going in " + dir.file("run") + " now (fp-sim run, pid ") &&
              Catch::EndsWith("): wait for it, or stop it first"));
    }
    CHECK(open(fresh->db_path)->schema_version() > 0);  // the other run's database is intact
    CHECK(std::filesystem::exists(dir.file("run/scenario.toml")));
  }
  // Once it is released, --fresh deletes what the earlier run wrote and runs again; what
  // else is in the folder stays (it deleted everything: a report made into it, notes, a
  // Slurm job's logs).
  std::ofstream(dir.file("run/notes.txt")) << "what I saw";
  std::filesystem::create_directories(dir.file("run/report"));
  std::ofstream(dir.file("run/hosts/0.log")) << "an earlier host's log";
  auto after = run_scenario(s, o);
  REQUIRE(after.ok());
  CHECK(after->status == "done");
  CHECK(fp::testing::read_file(dir.file("run/notes.txt")) == "what I saw");
  CHECK(std::filesystem::is_directory(dir.file("run/report")));
  CHECK_FALSE(std::filesystem::exists(dir.file("run/hosts/0.log")));  // the run's own
  CHECK(open(after->db_path)->schema_version() > 0);
  CHECK(store::RunStore::open(*open(after->db_path))->runs()->size() == 1);  // a new database

  // Another program's fp.db (a fleet's coordinator database, named so), or a file that is no
  // database: --fresh deleted it, and without it the refusal said it held a run.
  const std::string fleet = dir.file("fleet");
  std::filesystem::create_directories(fleet);
  {
    auto coordinator_db = store::Store::open(fleet + "/fp.db");  // no simulation tables
    REQUIRE(coordinator_db.ok());
    REQUIRE((*coordinator_db)
                ->enroll_key("0123456789012345678901234567890123456789", "alice", 1.0)
                .ok());
  }
  const std::string before = fp::testing::read_file(fleet + "/fp.db");
  for (bool fresh : {true, false}) {
    RunOptions other = quiet_options(fleet);
    other.fresh = fresh;
    CHECK_THAT(run_scenario(s, other).status().message(),
               Catch::StartsWith("--out " + fleet +
                                 " holds an fp.db that is no fp-sim run's (no "
                                 "simulation run in") &&
                   Catch::EndsWith(std::string(fresh ? "nothing deleted" : "not used") +
                                   "; give --out another folder"));
  }
  CHECK(fp::testing::read_file(fleet + "/fp.db") == before);
  std::ofstream(fleet + "/fp.db", std::ios::trunc) << "my notes, not a database";
  RunOptions text = quiet_options(fleet);
  text.fresh = true;
  CHECK_THAT(run_scenario(s, text).status().message(), Catch::Contains("nothing deleted"));
  CHECK(fp::testing::read_file(fleet + "/fp.db") == "my notes, not a database");

  // A run folder whose database was deleted: its agents' journals made a new run's agents
  // finish at once, having done nothing. Refused without --fresh; --fresh starts over.
  std::filesystem::remove(dir.file("run/fp.db"));
  CHECK(run_scenario(s, quiet_options(dir.file("run"))).status().message() ==
        dir.file("run") +
            " holds an earlier run's files (hosts/) but not its database (fp.db): start over "
            "with --fresh (or another --out)");
  auto over = run_scenario(s, o);  // o: --fresh
  REQUIRE(over.ok());
  CHECK(over->status == "done");
}

namespace {

// What the image-folder scenarios below share: their data (the folder set by run_on_folder),
// one swept target, no baselines, two workers.
constexpr const char* kFolderData =
    "[data]\ndataset = \"image-folder\"\ndir = \"DIR\"\nheight = 12\nwidth = 12\n";
constexpr const char* kSweepOnly =
    "[fineprune]\nsweep = [0.5]\n[baselines]\nmethods = []\n[hosting]\nworkers = 2\n";

// CK+'s setting on a pattern folder of persons (`data`: its [data] section): an individual
// per person, each left out of its general model.
std::string people_scenario(const std::string& data) {
  return "name = \"people\"\nseed = 3\n" + data + R"(
[partition]
method = "natural"
samples = 20
[general]
width_mult = 0.5
epochs = 2
threads = 1
leave_individual_out = true
)" + std::string(kSweepOnly);
}

// The run of `s` on the image folder dir/<folder> (set in `s`): its store.
std::unique_ptr<store::Store> run_on_folder(Scenario& s, const TempDir& dir,
                                            const std::string& folder) {
  s.data.dir = dir.file(folder);
  return open(run(s, dir.file("run")).db_path);
}

}  // namespace

TEST_CASE("a scenario on one's own image folder runs end to end, its shape in the model",
          "[sim][image-folder]") {
  TempDir dir;
  REQUIRE(fp::testing::write_pattern_folder(dir.file("patterns"), 40));
  Scenario s = parse("name = \"patterns\"\nseed = 3\n" + std::string(kFolderData) + R"(
[partition]
individuals = 4
samples = 20
disjoint = false
[general]
width_mult = 0.5
epochs = 15
learning_rate = 0.01
threads = 1
)" + std::string(kSweepOnly));
  auto db = run_on_folder(s, dir, "patterns");
  auto campaigns = db->campaigns();
  REQUIRE(campaigns.ok());
  REQUIRE(campaigns->size() == 1);
  CHECK((*campaigns)[0].dataset == "image-folder");
  auto model = db->find_model((*campaigns)[0].model_sha256);
  REQUIRE(model.ok());
  REQUIRE(model->has_value());
  // The folder's shape and classes, and the front end devices read their own pictures with.
  auto spec = ModelSpec::from_json((*model)->spec_json);
  REQUIRE(spec.ok());
  CHECK(spec->in_channels == 1);
  CHECK(spec->height == 12);
  CHECK(spec->width == 12);
  CHECK(spec->class_names == fp::testing::kPatternClasses);
  CHECK(spec->input == image_folder_input_spec());
  // Trained on the pictures no individual holds, scored on the individuals' (unseen) ones.
  auto population = load_population(s);
  REQUIRE(population.ok());
  CHECK(population->pool.size() == 120);
  auto meta = nlohmann::json::parse((*model)->meta_json);
  CHECK(std::stod(meta["heldout_accuracy"].get<std::string>()) > 0.9);
  auto tasks = db->tasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 4);
  for (const auto& t : *tasks) CHECK(t.status == "done");
  auto rows = db->telemetry();
  REQUIRE(rows.ok());
  CHECK(rows->size() == 4);  // fine_prune each
  for (const auto& r : *rows) CHECK(r.accuracy_after.has_value());
}

TEST_CASE("an image folder's person subfolders are individuals, each left out of its model",
          "[sim][image-folder]") {
  // CK+'s setting: DIR/<emotion>/<subject>/..., an individual is a subject, and the general
  // model that subject's device gets never saw the subject.
  TempDir dir;
  REQUIRE(fp::testing::write_pattern_folder(dir.file("people"), 40, 3, /*persons=*/4));
  Scenario s = parse(people_scenario(kFolderData));
  auto db = run_on_folder(s, dir, "people");
  auto campaigns = db->campaigns();
  REQUIRE(campaigns.ok());
  REQUIRE(campaigns->size() == 4);  // one general model per left-out person
  std::set<std::string> models;
  for (const auto& c : *campaigns) {
    models.insert(c.model_sha256);
    auto model = db->find_model(c.model_sha256);
    REQUIRE(model.ok());
    REQUIRE(model->has_value());
    // The three other persons' 30 pictures each: none of the left-out person's.
    CHECK(nlohmann::json::parse((*model)->meta_json)["train_samples"] == "90");
  }
  CHECK(models.size() == 4);
  auto tasks = db->tasks();
  REQUIRE(tasks.ok());
  std::set<std::string> individuals;
  for (const auto& t : *tasks) {
    CHECK(t.status == "done");
    individuals.insert(t.individual);
  }
  CHECK(individuals == std::set<std::string>{"group=person-0", "group=person-1", "group=person-2",
                                             "group=person-3"});
}

TEST_CASE("a run's warnings, logged to fp-sim.log, show on its console too", "[sim]") {
  // The console shows the progress; the coordinator's and agents' lines go to fp-sim.log,
  // where a run waiting on a mistake said why and nobody looked (5 Dec).
  Scenario s = parse(std::string(kTiny) + "security = \"plain\"\n");  // a warning at start
  s.partition.num_individuals = 2;
  s.baselines.methods.clear();
  TempDir dir;
  std::FILE* console = std::tmpfile();
  REQUIRE(console != nullptr);
  RunOptions o = quiet_options(dir.file("run"));
  o.progress = console;
  auto outcome = run_scenario(s, o);
  std::rewind(console);
  std::string shown;
  for (int c; (c = std::fgetc(console)) != EOF;) shown.push_back(static_cast<char>(c));
  std::fclose(console);
  INFO(shown);
  REQUIRE(outcome.ok());
  CHECK(outcome->status == "done");
  const std::string warning = "in PLAIN mode: no encryption and no authentication";
  CHECK_THAT(fp::testing::read_file(dir.file("run/fp-sim.log")), Catch::Contains(warning));
  const size_t at = shown.find("warning: coordinator on tcp://");
  REQUIRE(at != std::string::npos);
  CHECK(shown.find(warning, at) != std::string::npos);
  CHECK(shown.find("more warning(s)") == std::string::npos);  // one, shown
}

TEST_CASE("a general model asked to train on more samples than there are says so", "[sim]") {
  Scenario s = parse(kTiny);
  s.data.general_samples = 100'000;  // the training split holds 60,000
  s.partition.num_individuals = 2;
  s.baselines.methods.clear();
  TempDir dir;
  const RunOutcome outcome = run(s, dir.file("run"));
  CHECK_THAT(fp::testing::read_file(dir.file("run/fp-sim.log")),
             Catch::Contains("data.general_samples asks for 100000, but only 60000 are there to "
                             "train on") &&
                 Catch::Contains("trained on 60000 samples"));
}

TEST_CASE("a layer to protect that the general model lacks is refused before the run starts",
          "[sim]") {
  // Every device refused its task ("protected layer ... is not in the model") after the
  // general model had trained, and `fp-sim run --check` said ready.
  Scenario s = parse(kTiny);
  s.variants.front().settings.prune.protected_layers = {"conv1", "nosuch"};
  TempDir dir;
  const std::string want =
      "[fineprune] protected_layers: 'nosuch' is not a layer of the general model (cnn: conv1, "
      "conv2, fc1, fc_out)";
  CHECK(check_protected_layers(s).message() == want);
  auto outcome = run_scenario(s, quiet_options(dir.file("run")));
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status().message() == want);
  CHECK_FALSE(std::filesystem::exists(dir.file("run")));  // nothing trained or written
  s.variants.front().settings.prune.protected_layers = {"conv1", "fc_out"};
  CHECK(check_protected_layers(s).ok());

  // A named variant is named; the command line's check refuses it too, exit 2.
  const std::string scenario = dir.file("variants.toml");
  std::ofstream(scenario)
      << kTiny
      << "[[fineprune.variants]]\nname = \"plain\"\n"
         "[[fineprune.variants]]\nname = \"kept\"\nprotected_layers = [\"fc9\"]\n";
  const std::string log = dir.file("check.out");
  fp::testing::ChildProcess check({kSim, "run", scenario, "--check", "--out", dir.file("run")},
                                  log);
  REQUIRE(check.started());
  auto rc = check.wait(60s);
  INFO(fp::testing::read_file(log));
  REQUIRE(rc);
  CHECK(*rc == 2);
  CHECK_THAT(fp::testing::read_file(log),
             Catch::Contains("[[fineprune.variants]] 'kept' protected_layers: 'fc9' is not a "
                             "layer of the general model (cnn:"));
}

TEST_CASE("a run that cannot start is recorded as failed with the reason", "[sim]") {
  Scenario s = parse(kTiny);
  s.data.dir = "/nonexistent/fashion-mnist";
  TempDir dir;
  RunOptions o = quiet_options(dir.file("run"));
  auto outcome = run_scenario(s, o);
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status().message().find("/nonexistent/fashion-mnist") != std::string::npos);
  const store::RunRecord record = latest_run(o.out_dir);
  CHECK(record.status == "failed");
  auto stats = nlohmann::json::parse(record.stats_json);
  CHECK(stats["detail"].get<std::string>().find("/nonexistent/fashion-mnist") != std::string::npos);
}

TEST_CASE("a run interrupted while its general model trains stops there, recorded as interrupted",
          "[sim]") {
  Scenario s = parse(kTiny);
  s.data.general_samples = 20000;
  s.general.epochs = 40;  // many minutes: only a stop inside the training ends it soon
  TempDir dir;
  RunOptions o = quiet_options(dir.file("run"));
  std::atomic<bool> stop{false};
  o.interrupt = &stop;
  std::optional<Result<RunOutcome>> outcome;
  std::thread running([&] { outcome = run_scenario(s, o); });
  // Stopped 2 s in: training by then, or still loading (training then stops before its
  // first batch); either way long before 40 epochs could end.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  running.join();
  REQUIRE(outcome.has_value());
  REQUIRE_FALSE(outcome->ok());
  INFO(outcome->status().to_string());
  CHECK(outcome->status().code() == Status::Code::kCancelled);
  CHECK_THAT(outcome->status().message(), Catch::Contains("of 40"));
  CHECK_THAT(outcome->status().message(), !Catch::Contains("epoch 40 of"));
  const store::RunRecord record = latest_run(o.out_dir);
  CHECK(record.status == "interrupted");
  CHECK_THAT(record.stats_json, Catch::Contains("stopped on request"));

  // Its campaigns were never made: --resume goes on with its set-up ("a run stopped in its
  // set-up goes on with --resume ..." below). --resume --check and fp-sim list say it is ready
  // (they said "start it over with --fresh"), and the check writes nothing.
  RunOptions again = quiet_options(o.out_dir);
  again.resume = true;
  const std::string before = fp::testing::read_file(run_database(o.out_dir));
  CHECK(check_resumable(again).ok());
  CHECK(fp::testing::read_file(run_database(o.out_dir)) == before);
}

namespace {

// Runs `s` into `out` and interrupts it once `done` tasks of campaign `campaign` (0: of any)
// are done; returns what the interrupted run returned (checked: "interrupted").
RunOutcome run_interrupted(const Scenario& s, const std::string& out, int64_t campaign,
                           int64_t done) {
  RunOptions o = quiet_options(out);
  std::atomic<bool> stop{false};
  o.interrupt = &stop;
  std::optional<Result<RunOutcome>> first;
  std::atomic<bool> ended{false};
  std::thread running([&] {
    first = run_scenario(s, o);
    ended = true;
  });
  while (!ended) {
    // Once its keys exist its database is made (opening it earlier would make the file).
    auto db = fs::exists(fs::path(out) / "keys" / "coordinator.pub")
                  ? store::Store::open(run_database(out))
                  : Result<std::unique_ptr<store::Store>>(Status::not_found("not yet"));
    if (db.ok()) {
      auto tasks = (*db)->tasks(campaign);
      if (tasks.ok() && std::count_if(tasks->begin(), tasks->end(),
                                      [](const auto& t) { return t.status == "done"; }) >= done)
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  running.join();
  REQUIRE(first.has_value());
  INFO((first->ok() ? (*first)->detail : first->status().to_string()));
  REQUIRE(first->ok());
  REQUIRE((*first)->status == "interrupted");
  return std::move(*first).value();
}

// Resumes the run in `out` (with `retry_failed`) as fp-sim run --resume does; one that waits
// for ever (agents holding every slot with nothing to do) is stopped after two minutes, and
// then fails (REQUIRE "done") instead of hanging the suite.
RunOutcome resume_run(const std::string& out, bool retry_failed = false) {
  auto recorded = recorded_run_scenario(out, retry_failed);
  INFO(recorded.status().to_string());
  REQUIRE(recorded.ok());
  RunOptions again = quiet_options(out);
  again.resume = true;
  again.retry_failed = retry_failed;
  CHECK(check_resumable(again).ok());  // what fp-sim run --resume --check finds
  std::atomic<bool> too_long{false};
  again.interrupt = &too_long;
  std::atomic<bool> resumed_ended{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1200 && !resumed_ended; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    too_long = true;
  });
  auto second = run_scenario(*recorded, again);
  resumed_ended = true;
  watchdog.join();
  INFO(second.status().to_string());
  REQUIRE(second.ok());
  INFO(second->detail);
  REQUIRE(second->status == "done");
  return std::move(second).value();
}

}  // namespace

namespace {

// A console that sets `stop` once a line holding `marker` is written to it: a run's progress
// stopping the run at a known step of its set-up.
struct StopAtLine {
  std::string marker;
  std::atomic<bool>* stop = nullptr;
  std::string seen;
};

ssize_t write_and_stop_at_line(void* cookie, const char* data, size_t size) {
  auto* console = static_cast<StopAtLine*>(cookie);
  console->seen.append(data, size);
  if (console->seen.find(console->marker) != std::string::npos) *console->stop = true;
  return static_cast<ssize_t>(size);
}

// Runs `s` into `out`, interrupted once its progress shows a line holding `marker`.
Result<RunOutcome> run_stopped_at(const Scenario& s, const std::string& out,
                                  const std::string& marker) {
  std::atomic<bool> stop{false};
  StopAtLine cookie{marker, &stop, ""};
  cookie_io_functions_t io{nullptr, write_and_stop_at_line, nullptr, nullptr};
  std::FILE* console = fopencookie(&cookie, "w", io);
  REQUIRE(console != nullptr);
  RunOptions o = quiet_options(out);
  o.progress = console;
  o.interrupt = &stop;
  auto outcome = run_scenario(s, o);
  std::fclose(console);
  INFO(cookie.seen);
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status().code() == Status::Code::kCancelled);
  CHECK(latest_run(out).status == "interrupted");
  return outcome;
}

// Every task of the run's database done, with one row per (task, method) and `methods` rows
// a task.
void check_each_task_done_once(const std::string& out, size_t tasks, size_t methods) {
  auto db = open(run_database(out));
  auto all = db->tasks();
  REQUIRE(all.ok());
  CHECK(all->size() == tasks);
  for (const auto& t : *all) CHECK(t.status == "done");
  auto rows = db->telemetry();
  REQUIRE(rows.ok());
  std::set<std::pair<int64_t, std::string>> keys;
  for (const auto& r : *rows) keys.insert({r.task_id, r.method});
  CHECK(rows->size() == keys.size());
  CHECK(rows->size() == tasks * methods);
}

}  // namespace

// Ctrl-C, a closed pipe or a kill during the general model's training left a run that
// --resume refused ("start it over with --fresh"): with leave_individual_out that threw away
// every model trained before the stop.
TEST_CASE("a run stopped in its set-up goes on with --resume, keeping the campaigns it made",
          "[sim]") {
  TempDir dir;
  SECTION("stopped before its general model trained") {
    const Scenario s = parse(kTiny);
    const std::string out = dir.file("shared");
    (void)run_stopped_at(s, out, " individual(s) from ");
    CHECK(open(run_database(out))->campaigns()->empty());
    const RunOutcome resumed = resume_run(out);
    CHECK(resumed.run_id == latest_run(out).id);
    const auto stats = nlohmann::json::parse(resumed.stats_json);
    CHECK(stats["models_trained"] == 1);
    CHECK(stats["earlier_attempts"].size() == 1);
    check_each_task_done_once(out, 8, 2);  // fine_prune, finetune
  }
  SECTION("stopped between two left-out individuals' models") {
    REQUIRE(fp::testing::write_pattern_folder(dir.file("people"), 40, 3, /*persons=*/4));
    // The folder in the scenario's text: --resume reads the text the run recorded.
    std::string data = kFolderData;
    data.replace(data.find("DIR"), 3, dir.file("people"));
    Scenario s = parse(people_scenario(data) +
                       R"(
[[fineprune.variants]]
name = "half"
sweep = [0.5]
[[fineprune.variants]]
name = "third"
sweep = [0.3]
)");
    const std::string out = dir.file("left-out");
    (void)run_stopped_at(s, out, "general model without group=person-1");
    std::vector<store::CampaignRecord> made;
    {
      auto db = open(run_database(out));
      auto campaigns = db->campaigns();
      REQUIRE(campaigns.ok());
      made = *campaigns;
      REQUIRE(made.size() == 2);  // person-0's, one per variant, each with its task
      CHECK(made[0].model_sha256 == made[1].model_sha256);
      CHECK(db->tasks()->size() == 2);
    }
    const RunOutcome resumed = resume_run(out);
    const auto stats = nlohmann::json::parse(resumed.stats_json);
    CHECK(stats["models_trained"] == 3);  // person-0's is kept, not trained again
    auto db = open(run_database(out));
    auto campaigns = db->campaigns();
    REQUIRE(campaigns.ok());
    REQUIRE(campaigns->size() == 8);
    std::set<std::string> models;
    for (const auto& c : *campaigns) models.insert(c.model_sha256);
    CHECK(models.size() == 4);
    for (const auto& kept : made) {
      auto now = db->campaign(kept.id);
      REQUIRE(now.ok());
      REQUIRE(now->has_value());
      CHECK((*now)->name == kept.name);
      CHECK((*now)->model_sha256 == kept.model_sha256);
    }
    check_each_task_done_once(out, 8, 1);
  }
}

TEST_CASE("an interrupted run resumes where it stopped and ends as an uninterrupted one would",
          "[sim][resume]") {
  // Enough that the interrupt, seen within 200 ms, lands with tasks left on a fast machine
  // (with 16, all were done once by then).
  constexpr int64_t kIndividuals = 48;
  Scenario s = parse(kTiny);
  s.partition.num_individuals = kIndividuals;
  // Two slots: the two or more agents done before the interrupt, unjournaled below, would
  // hold both for ever without the resumed run's journal fix.
  s.hosting.connected = 2;
  s.overrides = {"partition.individuals = 48"};  // as fp-sim run --individuals 48 notes it
  TempDir dir;
  const RunOutcome whole = run(s, dir.file("whole"));

  // The same run, interrupted once a few tasks are done.
  const std::string out = dir.file("resumed");
  const RunOutcome first = run_interrupted(s, out, 0, 2);
  std::vector<store::TelemetryRecord> before;
  {
    auto db = open(run_database(out));
    auto rows = db->telemetry();
    REQUIRE(rows.ok());
    before = *rows;
  }
  REQUIRE(before.size() >= 4);                // 2 tasks x (fine_prune, finetune) at least
  REQUIRE(before.size() < 2 * kIndividuals);  // not all of them
  // An agent killed after its tasks ended but before its host journaled it: the resumed
  // run journals it from the database (left waiting, it would hold a slot to the end).
  fs::remove(fs::path(out) / "hosts" / "0" / "finished.log");

  // What it recorded is what it runs again: the overrides too.
  auto recorded = recorded_run_scenario(out);
  INFO(recorded.status().to_string());
  REQUIRE(recorded.ok());
  CHECK(recorded->partition.num_individuals == kIndividuals);
  CHECK(recorded->overrides == s.overrides);
  // The run's copy edited by hand: --resume goes on with what it recorded, and the edit is
  // kept beside it (it was written over without a word).
  const std::string copy = dir.file("resumed/scenario.toml");
  const std::string edited = fp::testing::read_file(copy) + "# tried another seed\n";
  { std::ofstream(copy, std::ios::app) << "# tried another seed\n"; }
  const RunOutcome second = resume_run(out);
  CHECK(second.run_id == first.run_id);  // the same run, not a new one
  CHECK_THAT(fp::testing::read_file(dir.file("resumed/fp-sim.log")),
             Catch::Contains("resuming run 1") &&
                 Catch::Contains("agent(s) whose tasks ended journaled as finished") &&
                 Catch::Contains("scenario.toml was edited since the run began"));
  CHECK(fp::testing::read_file(dir.file("resumed/scenario.edited.toml")) == edited);
  CHECK(fp::testing::read_file(copy) == recorded->text);

  const store::RunRecord record = latest_run(out);
  CHECK(record.status == "done");
  auto stats = nlohmann::json::parse(record.stats_json);
  CHECK(stats["models_trained"] == 0);  // nothing trained again
  CHECK(stats["tasks_done"] == kIndividuals);
  // The rate is this attempt's: its rows over its campaign time, not the run's rows.
  const double stored_now = stats["coordinator"]["reports_stored"].get<double>();
  CHECK(stored_now == 2 * kIndividuals - static_cast<double>(before.size()));
  CHECK(stats["telemetry_per_second"].get<double>() ==
        Approx(stored_now / stats["campaign_seconds"].get<double>()));
  REQUIRE(stats["earlier_attempts"].size() == 1);
  CHECK(stats["earlier_attempts"][0]["status"] == "interrupted");
  // Its workers' time runs until its hosts ended, with the tasks they were running: a share
  // of it, not below zero (the tasks' compute past the interruption counted against the
  // campaign's wall alone before).
  const auto share = stats["earlier_attempts"][0]["overhead_wall_share"].get<double>();
  CHECK(share >= 0.0);
  CHECK(share <= 1.0);

  // The first attempt's rows are kept as they were, each (task, method) once, and every
  // number is the uninterrupted run's.
  auto da = open(whole.db_path), db = open(run_database(out));
  auto ta = da->telemetry(), tb = db->telemetry();
  REQUIRE(ta.ok());
  REQUIRE(tb.ok());
  for (size_t i = 0; i < before.size(); ++i) {
    CHECK(std::find_if(tb->begin(), tb->end(), [&](const store::TelemetryRecord& r) {
            return r.id == before[i].id && r.individual == before[i].individual &&
                   r.method == before[i].method;
          }) != tb->end());
  }
  auto key = [](const store::TelemetryRecord& r) { return r.individual + "/" + r.method; };
  std::map<std::string, store::TelemetryRecord> ra, rb;
  for (const auto& r : *ta) ra[key(r)] = r;
  for (const auto& r : *tb) rb[key(r)] = r;
  CHECK(tb->size() == 2 * kIndividuals);
  REQUIRE(rb.size() == ra.size());
  for (const auto& [k, x] : ra) {
    INFO(k);
    REQUIRE(rb.count(k));
    CHECK(x.accuracy_before == rb.at(k).accuracy_before);
    CHECK(x.accuracy_after == rb.at(k).accuracy_after);
    CHECK(x.sparsity == rb.at(k).sparsity);
  }

  // Done now: nothing to resume.
  auto done = recorded_run_scenario(out);
  REQUIRE_FALSE(done.ok());
  CHECK_THAT(done.status().message(), Catch::Contains("is done: nothing to resume"));
}

TEST_CASE("a resumed run's agents with some of their variants' tasks done do only the rest",
          "[sim][resume]") {
  // Each agent does one task per variant. One interrupted between its two tasks would, run
  // again with two to do, do the one left and then wait for a second with none coming,
  // holding its connection slot: two such agents hold both slots and the run never ends.
  constexpr int64_t kIndividuals = 12;
  Scenario s = parse(std::string(kTiny) + kTwoVariants);
  s.partition.num_individuals = kIndividuals;
  s.hosting.connected = 2;
  s.overrides = {"partition.individuals = 12", "hosting.connected = 2"};  // as fp-sim notes them
  TempDir dir;
  const std::string out = dir.file("run");
  // Interrupted once two individuals' first tasks (the first variant's campaign) are done.
  run_interrupted(s, out, 1, 2);
  // Those agents' second tasks may have ended too before the interrupt landed: such a task
  // is set back as a kill between the two would have left it (pending, its rows not stored),
  // so that two agents have one task done and one to do. Their host's journal goes too.
  std::set<std::string> partial;
  {
    auto db = open(run_database(out));
    auto firsts = db->tasks(1), seconds = db->tasks(2);
    REQUIRE(firsts.ok());
    REQUIRE(seconds.ok());
    for (const auto& a : *firsts) {
      if (a.status != "done" || partial.size() == 2) continue;
      for (const auto& b : *seconds) {
        if (b.individual != a.individual) continue;
        if (b.status == "done") {
          const std::string id = std::to_string(b.id);
          REQUIRE(db->db().exec("DELETE FROM telemetry WHERE task_id = " + id).ok());
          REQUIRE(db->db()
                      .exec("UPDATE tasks SET status = 'pending', finished_at = 0 WHERE id = " + id)
                      .ok());
        }
        partial.insert(a.individual);
      }
    }
  }
  REQUIRE(partial.size() == 2);
  fs::remove(fs::path(out) / "hosts" / "0" / "finished.log");

  resume_run(out);
  CHECK_THAT(fp::testing::read_file(dir.file("run/fp-sim.log")),
             Catch::Contains("agent(s) with tasks left in some campaigns journaled with how many"));

  // Every task done once, by its own agent; each (task, method) stored once.
  auto db = open(run_database(out));
  auto tasks = db->tasks();
  REQUIRE(tasks.ok());
  CHECK(tasks->size() == 2 * kIndividuals);
  for (const auto& t : *tasks) CHECK(t.status == "done");
  auto rows = db->telemetry();
  REQUIRE(rows.ok());
  std::set<std::pair<int64_t, std::string>> seen;
  for (const auto& r : *rows) CHECK(seen.insert({r.task_id, r.method}).second);
  CHECK(seen.size() == 2 * 2 * kIndividuals);  // (fine_prune, finetune) per task
}

TEST_CASE("a run folder moved after an interruption is resumed where it is now", "[sim][resume]") {
  // Its database recorded its models' files under the folder's old path: they were not
  // found, and every task left failed ("model unavailable").
  Scenario s = parse(kTiny);
  s.partition.num_individuals = 48;  // tasks left when the interrupt lands
  s.hosting.connected = 2;
  s.overrides = {"partition.individuals = 48", "hosting.connected = 2"};
  TempDir dir;
  run_interrupted(s, dir.file("before"), 0, 2);
  {
    auto db = open(run_database(dir.file("before")));
    REQUIRE(db->task_counts(1)->done < 48);
  }
  fs::rename(dir.file("before"), dir.file("after"));
  resume_run(dir.file("after"));
  auto db = open(run_database(dir.file("after")));
  auto tasks = db->tasks();
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 48);
  for (const auto& t : *tasks) {
    INFO(t.individual << ": " << t.error);
    CHECK(t.status == "done");
  }
}

TEST_CASE("a run whose general model file is gone is not resumed", "[sim][resume]") {
  // --resume --check said ready, and every task left failed ("model unavailable"), exit 0.
  Scenario s = parse(kTiny);
  s.partition.num_individuals = 48;
  s.hosting.connected = 2;
  s.overrides = {"partition.individuals = 48", "hosting.connected = 2"};
  TempDir dir;
  run_interrupted(s, dir.file("run"), 0, 2);
  const int64_t done_before = open(run_database(dir.file("run")))->task_counts(1)->done;
  fs::rename(dir.file("run/models"), dir.file("models-away"));
  RunOptions again = quiet_options(dir.file("run"));
  again.resume = true;
  const Status check = check_resumable(again);
  CHECK_THAT(check.message(), Catch::StartsWith("the run's general model is not there to resume "
                                                "with: model file "));
  auto recorded = recorded_run_scenario(dir.file("run"));
  REQUIRE(recorded.ok());
  auto resumed = run_scenario(*recorded, again);
  REQUIRE_FALSE(resumed.ok());
  CHECK(resumed.status().message() == check.message());
  CHECK(open(run_database(dir.file("run")))->task_counts(1)->done == done_before);
  // Back in place, it resumes.
  fs::rename(dir.file("models-away"), dir.file("run/models"));
  resume_run(dir.file("run"));
}

TEST_CASE("a done run's failed tasks run again with --retry-failed", "[sim][resume]") {
  Scenario s = parse(kTiny);
  TempDir dir;
  const RunOutcome first = run(s, dir.file("run"));
  const std::string out = dir.file("run");
  // Two tasks failed as a transient failure leaves them (a device out of memory): failed,
  // no rows. Their agents ended, so their host journaled them.
  std::map<std::string, store::TelemetryRecord> lost;
  {
    auto db = open(first.db_path);
    auto rows = db->telemetry();
    REQUIRE(rows.ok());
    for (const auto& r : *rows)
      if (r.task_id <= 2) lost[std::to_string(r.task_id) + "/" + r.method] = r;
    REQUIRE(lost.size() == 4);  // (fine_prune, finetune) of each
    REQUIRE(db->db().exec("DELETE FROM telemetry WHERE task_id <= 2").ok());
    REQUIRE(db->db()
                .exec("UPDATE tasks SET status = 'failed', error = 'out of memory' WHERE id <= 2")
                .ok());
  }
  auto refused = recorded_run_scenario(out);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(),
             Catch::Contains("is done: nothing to resume; its 2 failed task(s) run again with "
                             "--resume --retry-failed"));
  RunOptions alone = quiet_options(out);
  alone.retry_failed = true;  // without resume
  auto not_resumed = run_scenario(s, alone);
  REQUIRE_FALSE(not_resumed.ok());
  CHECK(not_resumed.status().message() == "retrying failed tasks goes with resume");

  const RunOutcome second = resume_run(out, /*retry_failed=*/true);
  CHECK(second.run_id == first.run_id);
  CHECK_THAT(fp::testing::read_file(dir.file("run/fp-sim.log")),
             Catch::Contains("2 failed task(s) back in the queue"));

  auto db = open(first.db_path);
  auto tasks = db->tasks();
  REQUIRE(tasks.ok());
  for (const auto& t : *tasks) {
    CHECK(t.status == "done");
    CHECK(t.error.empty());
  }
  auto rows = db->telemetry();
  REQUIRE(rows.ok());
  CHECK(rows->size() == 16);
  size_t again_stored = 0;
  for (const auto& r : *rows) {  // the same numbers as the first time
    auto it = lost.find(std::to_string(r.task_id) + "/" + r.method);
    if (it == lost.end()) continue;
    ++again_stored;
    CHECK(r.accuracy_after == it->second.accuracy_after);
    CHECK(r.sparsity == it->second.sparsity);
  }
  CHECK(again_stored == 4);
  const store::RunRecord record = latest_run(out);
  auto stats = nlohmann::json::parse(record.stats_json);
  CHECK(stats["tasks_done"] == 8);
  REQUIRE(stats["earlier_attempts"].size() == 1);
  CHECK(stats["earlier_attempts"][0]["status"] == "done");

  auto nothing = recorded_run_scenario(out, /*retry_failed=*/true);
  REQUIRE_FALSE(nothing.ok());
  CHECK_THAT(nothing.status().message(),
             Catch::Contains("is done and none of its tasks failed: nothing to retry"));
}

TEST_CASE("a general model no better than chance is warned about", "[sim]") {
  Scenario s = parse(kTiny);
  s.partition.num_individuals = 2;
  TempDir dir;
  run(s, dir.file("fine"));
  CHECK_THAT(fp::testing::read_file(dir.file("fine/fp-sim.log")), !Catch::Contains("near chance"));
  s.general.learning_rate = 2.5;  // trains to a finite loss and chance accuracy
  run(s, dir.file("useless"));
  CHECK_THAT(fp::testing::read_file(dir.file("useless/fp-sim.log")),
             Catch::Contains("held-out accuracy") && Catch::Contains("is near chance") &&
                 Catch::Contains("check [general] (learning_rate"));
  // At warning level: counted, shown on the console, kept at --log-level warn (it was info).
  CHECK_THAT(fp::testing::read_file(dir.file("useless/fp-sim.log")),
             Catch::Contains("[warning] the general model's held-out accuracy"));
}

TEST_CASE("best_classes draws individuals from the classes the general model does best", "[sim]") {
  std::string text = kTiny;
  text.replace(text.find("[partition]\n"), 12, "[partition]\nbest_classes = 3\n");
  Scenario s = parse(text);
  s.partition.num_individuals = 3;
  TempDir dir;
  CHECK(describe_run(s).ok());
  // What the pick needs is checked before a run (it said ready; the run failed once trained).
  Scenario more = s;
  more.best_classes = 11;
  CHECK(describe_run(more).status().message() ==
        "best_classes = 11, but 10 classes have samples to be scored on");
  Scenario all = s;
  all.data.general_samples = 60000;
  CHECK_THAT(describe_run(all).status().message(),
             Catch::Contains("data.general_samples = 60000 leaves none of the 60000"));
  auto outcome = run(s, dir.file("run"));

  // The run folder's scenario (what host processes read) records the pick ...
  auto recorded = load_scenario(dir.file("run") + "/scenario.toml");
  REQUIRE(recorded.ok());
  const std::vector<int64_t> pick = recorded->partition.classes;
  REQUIRE(pick.size() == 3);
  auto db = open(outcome.db_path);
  auto runs = store::RunStore::open(*db);
  REQUIRE(runs.ok());
  auto stored = runs->run(outcome.run_id);
  REQUIRE(stored.ok());
  CHECK(stored->scenario_toml == recorded->text);

  // ... and it is the top 3 of the shipped model on training images it did not train on.
  auto campaigns = db->campaigns();
  REQUIRE(campaigns.ok());
  REQUIRE(campaigns->size() == 1);
  auto model = load_model(dir.file("run") + "/models/" + (*campaigns)[0].model_sha256 + ".fpm");
  REQUIRE(model.ok());
  auto scoring = class_scoring_data(s);
  REQUIRE(scoring.ok());
  CHECK(scoring->size() == 10000);  // images 1000..10999 of the training split
  auto eval = evaluate(**model, *scoring);
  REQUIRE(eval.ok());
  auto expected = best_classes(eval->per_class_accuracy, 3);
  REQUIRE(expected.ok());
  CHECK(pick == *expected);

  // Every individual holds two of the picked classes and nothing else.
  auto results = read_results(*db, outcome.run_id);
  REQUIRE(results.ok());
  REQUIRE(results->rows.size() == 3);
  auto population = load_population(*recorded);
  REQUIRE(population.ok());
  for (const auto& ind : population->individuals) {
    REQUIRE(ind.classes.size() == 2);
    for (int64_t c : ind.classes) CHECK(std::count(pick.begin(), pick.end(), c) == 1);
  }
}

TEST_CASE("general models ship their spread curve; devices read their shift threshold from it",
          "[sim]") {
  Scenario s = parse(std::string(kTiny) +
                     "[[fineprune.variants]]\nname = \"calibrated\"\n"
                     "class_spread_share = 0.5\n"
                     "[[fineprune.variants]]\nname = \"automatic\"\n"  // the default
                     "[[fineprune.variants]]\nname = \"off\"\nclass_spread_share = 0\n");
  s.partition.num_individuals = 3;
  TempDir dir;
  auto outcome = run(s, dir.file("run"));
  auto db = open(outcome.db_path);
  auto campaigns = db->campaigns();
  REQUIRE(campaigns.ok());
  REQUIRE(campaigns->size() == 3);
  ArtifactInfo info;
  auto model =
      load_model(dir.file("run") + "/models/" + (*campaigns)[0].model_sha256 + ".fpm", &info);
  REQUIRE(model.ok());
  auto shipped = spread_curve_from_meta(info.meta);
  REQUIRE(shipped.ok());
  // Measured on 2,000 training images the model did not train on, seeded by the scenario.
  auto calibration = class_scoring_data(s, 2000);
  REQUIRE(calibration.ok());
  SpreadCurveConfig config;
  config.seed = s.seed;
  auto measured = measure_spread_curve(**model, *calibration, config);
  REQUIRE(measured.ok());
  REQUIRE(shipped->size() == 10);
  for (size_t k = 0; k < 10; ++k) CHECK((*shipped)[k] == Approx((*measured)[k]).margin(1e-4));
  // Every device resolved a threshold from it and finished its task.
  auto results = read_results(*db, outcome.run_id);
  REQUIRE(results.ok());
  CHECK(results->rows.size() == 9);
  const std::string log = fp::testing::read_file(dir.file("run") + "/fp-sim.log");
  CHECK(log.find("class spread curve") != std::string::npos);
  const auto count = [&](const std::string& text) {
    int n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  };
  const auto decisions = [&](double share) {
    return count(fmt::format("(threshold {:.3f})", calibrated_spread_threshold(*shipped, share)));
  };
  CHECK(decisions(0.5) == 3);
  CHECK(decisions(PruneConfig::kDefaultClassSpreadShare) == 3);  // automatic, by default
  CHECK(count(": class spread ") == 6);  // the variant that turned it off decided nothing
}

TEST_CASE("runs of several seeds pool into paired comparisons over all their individuals",
          "[sim]") {
  Scenario s = parse(std::string(kTiny) +
                     "[[fineprune.variants]]\nname = \"a\"\n"
                     "[[fineprune.variants]]\nname = \"b\"\n"
                     "target_sparsity = 0.6\nselect_sparsity = false\n");
  s.partition.num_individuals = 4;
  TempDir dir;
  std::vector<report::SeedRun> seeds;
  std::vector<std::string> reports, report_dirs;
  for (uint64_t seed : {5, 6}) {
    set_seed(s, seed);
    auto outcome = run(s, dir.file("run" + std::to_string(seed)));
    auto db = open(outcome.db_path);
    auto loaded = report::load_seed_run(*db);
    REQUIRE(loaded.ok());
    CHECK(loaded->label == std::to_string(seed));
    REQUIRE(loaded->campaigns.size() == 2);
    seeds.push_back(std::move(loaded).value());
    // Each run's own comparisons, as its report writes them.
    auto results = read_results(*db, outcome.run_id);
    REQUIRE(results.ok());
    const std::string out = dir.file("report" + std::to_string(seed));
    REQUIRE(write_experiment_report(*db, *results, out).ok());
    reports.push_back(fp::testing::read_file(out + "/comparisons.csv"));
    report_dirs.push_back(out);
  }
  const auto find = [](const std::vector<report::PooledComparison>& rows, const std::string& v,
                       const std::string& m, const std::string& versus) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& c) {
      return c.variant == v && c.method == m && c.versus == versus;
    });
    REQUIRE(it != rows.end());
    return *it;
  };

  // One seed alone pools to that run's own comparisons (comparisons.csv: 6 digits).
  const auto g6 = [](double v) { return fmt::format("{:.6g}", v); };
  for (size_t i = 0; i < 2; ++i) {
    const auto alone = report::pool_comparisons({seeds[i]});
    const auto c = find(alone, "a", "fine_prune", "general");
    CHECK(c.paired.n == 4);
    CHECK_THAT(reports[i],
               Catch::Contains(fmt::format(
                   "a,fine_prune,general,4,{},{},{},{},{},{},{}", g6(c.paired.mean_a),
                   g6(c.paired.mean_b), g6(c.paired.mean_diff), g6(c.paired.median_diff),
                   g6(c.paired.ci.low), g6(c.paired.ci.high), g6(c.paired.wilcoxon.p_value))));
  }

  // Both: every individual of both runs, each seed's own mean beside the pooled one.
  const auto pooled = report::pool_comparisons(seeds, "a");
  const auto both = find(pooled, "a", "fine_prune", "general");
  CHECK(both.paired.n == 8);
  REQUIRE(both.per_seed.size() == 2);
  CHECK(both.per_seed[0].first == "5");
  CHECK(both.per_seed[1].first == "6");
  CHECK(both.paired.mean_diff == Approx((both.per_seed[0].second + both.per_seed[1].second) / 2));
  CHECK(both.per_seed[0].second ==
        Approx(find(report::pool_comparisons({seeds[0]}), "a", "fine_prune", "general")
                   .paired.mean_diff));
  // Variant b's Fine-Pruning against a's, paired by seed and individual.
  const auto b_vs_a = find(pooled, "b", "fine_prune", "a fine_prune");
  CHECK(b_vs_a.paired.n == 8);
  CHECK(b_vs_a.paired.mean_diff ==
        Approx(find(pooled, "b", "fine_prune", "general").paired.mean_b -
               find(pooled, "a", "fine_prune", "general").paired.mean_b));
  // Its cost columns are b's Fine-Pruning's, as in b's row against the general model over the
  // same individuals (they read 0).
  const auto b_vs_general = find(pooled, "b", "fine_prune", "general");
  REQUIRE(b_vs_general.paired.n == 8);
  CHECK(b_vs_a.compute_gmac > 0);
  CHECK(b_vs_a.compute_gmac == Approx(b_vs_general.compute_gmac));
  CHECK(b_vs_a.seconds == Approx(b_vs_general.seconds));
  CHECK(b_vs_a.mac_reduction == Approx(b_vs_general.mac_reduction));
  CHECK(b_vs_a.sparsity == Approx(b_vs_general.sparsity));
  // The tables say the same.
  const std::string csv = report::pooled_csv(pooled);
  CHECK(csv.rfind("variant,method,versus,n,mean_a", 0) == 0);
  CHECK_THAT(csv, Catch::Contains("a,fine_prune,general,8,"));
  const std::string md = report::pooled_markdown(pooled, {"run5", "run6"});
  CHECK_THAT(md, Catch::Contains("Pooled over: run5, run6"));
  CHECK_THAT(md,
             Catch::Contains(fmt::format("| 5:{:+.1f} 6:{:+.1f} |", 100 * both.per_seed[0].second,
                                         100 * both.per_seed[1].second)));

  // The reports' seed_run.json files pool to the same tables as the runs' databases.
  std::vector<report::SeedRun> from_files;
  for (const auto& d : report_dirs) {
    const std::string file = d + "/" + report::kSeedRunFile;
    auto loaded = report::parse_seed_run(fp::testing::read_file(file), file);
    INFO(loaded.status().to_string());
    REQUIRE(loaded.ok());
    from_files.push_back(std::move(loaded).value());
  }
  CHECK(from_files[0].label == "5");
  CHECK(report::pooled_csv(report::pool_comparisons(from_files, "a")) == csv);
}
