// seed_run.json: a run's per-individual outcomes, as `fp-sim pool` reads them from a report
// folder after the run's SQLite file is gone; and the report folder's list of its files.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "file_size_limit.h"
#include "report/report_manifest.h"
#include "report/seed_run_file.h"
#include "temp_dir.h"
#include "util/file_io.h"

// Using-declarations, not the namespace: the suite's sources compile in unity batches.
using fp::report::CampaignResults;
using fp::report::IndividualResult;
using fp::report::MethodOutcome;
using fp::report::parse_seed_run;
using fp::report::pool_comparisons;
using fp::report::pooled_csv;
using fp::report::seed_run_to_json;
using fp::report::SeedRun;

namespace {

IndividualResult seed_run_individual(const std::string& name, double general, double pruned,
                                     std::optional<double> em) {
  IndividualResult r;
  r.individual = name;
  r.general_accuracy = general;
  r.eval_samples = 100;
  r.macs_dense = 1000;
  MethodOutcome fp;
  fp.accuracy = pruned;
  fp.sparsity = 0.25;
  fp.macs_effective = 700;
  fp.wall_seconds = 1.5;
  fp.compute_macs = 123456789012;
  r.methods["fine_prune"] = fp;
  MethodOutcome prior;
  prior.accuracy = em;  // null: an unlabeled device
  prior.compute_macs = 5;
  r.methods["em_prior"] = prior;
  return r;
}

SeedRun example_seed_run() {
  SeedRun seed;
  seed.label = "101";
  seed.scenario = "study";
  CampaignResults results;
  results.individuals = {seed_run_individual("ind-0", 0.81, 0.87, 0.9),
                         seed_run_individual("ind-1", 0.7, 0.69, 0.8),
                         seed_run_individual("ind-2", 0.6, 0.7, std::nullopt)};
  IndividualResult pending;  // never evaluated: not written
  pending.individual = "ind-3";
  results.individuals.push_back(pending);
  seed.campaigns.emplace_back("default", results);
  seed.campaigns.emplace_back("output-only", results);
  return seed;
}

// The example's text with one edit applied to its JSON.
std::string edited_seed_run(const std::function<void(nlohmann::json&)>& edit) {
  auto doc = nlohmann::json::parse(seed_run_to_json(example_seed_run()));
  edit(doc);
  return doc.dump();
}

std::string seed_run_error(const std::string& text) {
  auto parsed = parse_seed_run(text, "r/seed_run.json");
  REQUIRE_FALSE(parsed.ok());
  return parsed.status().to_string();
}

}  // namespace

TEST_CASE("a seed run written to seed_run.json reads back as it was", "[report]") {
  const SeedRun seed = example_seed_run();
  auto back = parse_seed_run(seed_run_to_json(seed), "seed_run.json");
  INFO(back.status().to_string());
  REQUIRE(back.ok());
  CHECK(back->label == "101");
  CHECK(back->scenario == "study");
  CHECK(back->status == "done");
  REQUIRE(back->campaigns.size() == 2);
  CHECK(back->campaigns[1].first == "output-only");
  const auto& inds = back->campaigns[0].second.individuals;
  REQUIRE(inds.size() == 3);  // the one without a general accuracy is left out
  CHECK(inds[1].individual == "ind-1");
  CHECK(*inds[1].general_accuracy == 0.7);
  CHECK(inds[1].eval_samples == 100);
  CHECK(inds[1].macs_dense == 1000);
  const MethodOutcome* fp = inds[1].method("fine_prune");
  REQUIRE(fp != nullptr);
  CHECK(*fp->accuracy == 0.69);
  CHECK(fp->sparsity == 0.25);
  CHECK(fp->macs_effective == 700);
  CHECK(fp->wall_seconds == 1.5);
  CHECK(fp->compute_macs == 123456789012);
  CHECK_FALSE(inds[2].method("em_prior")->accuracy.has_value());

  SeedRun unfinished = seed;
  unfinished.status = "interrupted";
  CHECK(parse_seed_run(seed_run_to_json(unfinished), "x.json")->status == "interrupted");
  // The settings it ran with travel too; a file without them says nothing (unknown).
  CHECK_FALSE(back->settings.has_value());
  SeedRun overridden = seed;
  overridden.settings = fp::report::result_settings(
      {"seed = 3", "partition.individuals = 40", "hosting.workers = 2", "baselines.methods = []"});
  CHECK(overridden.settings ==
        std::vector<std::string>{"partition.individuals = 40", "baselines.methods = []"});
  CHECK(parse_seed_run(seed_run_to_json(overridden), "x.json")->settings == overridden.settings);

  // Pooling reads only what the file keeps: the same tables either way.
  CHECK(pooled_csv(pool_comparisons({*back}, "default")) ==
        pooled_csv(pool_comparisons({seed}, "default")));
}

TEST_CASE("a damaged seed_run.json is refused with what is wrong", "[report]") {
  CHECK_THAT(seed_run_error("{\"format\": "), Catch::Contains("r/seed_run.json: not JSON"));
  CHECK_THAT(seed_run_error("[1, 2]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) { d.erase("seed"); })),
             Catch::Contains("missing \"seed\""));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) { d["format"] = "something-else"; })),
             Catch::Contains("format \"something-else\""));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) { d["version"] = 2; })),
             Catch::Contains("version 2"));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) { d["campaigns"] = "none"; })),
             Catch::Contains("\"campaigns\" is of the wrong type"));
  CHECK_THAT(seed_run_error(edited_seed_run(
                 [](auto& d) { d["campaigns"][1]["individuals"][2].erase("general"); })),
             Catch::Contains("campaign 1 individual 2: missing \"general\""));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) {
               d["campaigns"][0]["individuals"][0]["methods"]["fine_prune"]["compute_macs"] = "x";
             })),
             Catch::Contains("method \"fine_prune\": \"compute_macs\" has the wrong type"));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) {
               d["campaigns"][0]["individuals"][0]["methods"]["em_prior"].erase("accuracy");
             })),
             Catch::Contains("method \"em_prior\": missing \"accuracy\""));
  // Values no run writes (a hand edit, a damaged file) were pooled into inf, -nan or -30 %.
  CHECK_THAT(seed_run_error(edited_seed_run(
                 [](auto& d) { d["campaigns"][0]["individuals"][0]["general"] = 1e308; })),
             Catch::Contains("campaign 0 individual 0: \"general\" is 1e+308, not a number "
                             "from 0 to 1"));
  CHECK_THAT(seed_run_error(edited_seed_run(
                 [](auto& d) { d["campaigns"][0]["individuals"][0]["general"] = -5; })),
             Catch::Contains("\"general\" is -5, not a number from 0 to 1"));
  CHECK_THAT(seed_run_error(edited_seed_run(
                 [](auto& d) { d["campaigns"][0]["individuals"][0]["eval_samples"] = -1; })),
             Catch::Contains("\"eval_samples\" is -1, not a whole number from 0 to "));
  CHECK_THAT(seed_run_error(edited_seed_run(
                 [](auto& d) { d["campaigns"][0]["individuals"][0]["eval_samples"] = 1e30; })),
             Catch::Contains("\"eval_samples\" is 1e+30, not a whole number"));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) {
               d["campaigns"][0]["individuals"][0]["methods"]["fine_prune"]["sparsity"] = 1.5;
             })),
             Catch::Contains("method \"fine_prune\": \"sparsity\" is 1.5, not a number"));
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) {
               auto& individuals = d["campaigns"][0]["individuals"];
               individuals.push_back(individuals[0]);
             })),
             Catch::Contains("is listed twice"));
  // Every task Fine-Prunes: an individual without it pooled into the other methods' rows.
  CHECK_THAT(seed_run_error(edited_seed_run([](auto& d) {
               d["campaigns"][1]["individuals"][0]["methods"].erase("fine_prune");
             })),
             Catch::Contains("campaign 1 individual 0 (\"ind-0\"): no \"fine_prune\" among its "
                             "methods"));
}

// The report folder's manifest (report/report_manifest.h): a report written over another
// run's removes the files the other listed and it does not write.
TEST_CASE("a report written into a reused folder removes the files of the one before it",
          "[report]") {
  fp::testing::TempDir dir("manifest");
  const std::string root = dir.path.string();
  auto write = [&](const std::string& relative) {
    std::filesystem::create_directories((dir.path / relative).parent_path());
    std::ofstream(dir.path / relative) << relative;
    return root + "/" + relative;
  };
  // The first report: two variants' tables and two campaigns' folders; a file of the user's
  // beside them, and one outside the folder a damaged manifest might name.
  std::vector<std::string> first = {write("summary.csv"), write("by_variant.csv"),
                                    write("campaigns/tiny_a/results.csv"),
                                    write("campaigns/tiny_b/results.csv")};
  write("notes.txt");
  std::ofstream(dir.path.parent_path() / ("outside-" + dir.path.filename().string())) << "x";
  REQUIRE(fp::report::replace_report_manifest(root, first).ok());
  CHECK(fp::testing::read_file(root + "/" + fp::report::kReportManifest) ==
        "summary.csv\nby_variant.csv\ncampaigns/tiny_a/results.csv\ncampaigns/tiny_b/"
        "results.csv\n");
  // The second: one variant, one campaign.
  const std::vector<std::string> second = {write("summary.csv"),
                                           write("campaigns/tiny/results.csv")};
  REQUIRE(fp::report::replace_report_manifest(root, second).ok());
  CHECK(std::filesystem::exists(root + "/summary.csv"));
  CHECK(std::filesystem::exists(root + "/campaigns/tiny/results.csv"));
  CHECK_FALSE(std::filesystem::exists(root + "/by_variant.csv"));
  CHECK_FALSE(std::filesystem::exists(root + "/campaigns/tiny_a"));  // emptied, removed
  CHECK_FALSE(std::filesystem::exists(root + "/campaigns/tiny_b"));
  CHECK(std::filesystem::exists(root + "/notes.txt"));  // never listed: the user's
  // A manifest line leaving the folder is left alone.
  std::ofstream(root + "/" + fp::report::kReportManifest)
      << "../outside-" << dir.path.filename().string() << "\n/etc/hostname\n";
  REQUIRE(fp::report::replace_report_manifest(root, second).ok());
  const auto outside = dir.path.parent_path() / ("outside-" + dir.path.filename().string());
  CHECK(std::filesystem::exists(outside));
  std::filesystem::remove(outside);
  CHECK(std::filesystem::exists("/etc/hostname"));
}

// Two runs writing one report folder at once (report/report_manifest.h put_report_in_place):
// each report's files are put in place and listed with the folder locked, so the folder holds
// one whole report, the last one's. Without the lock, one's summary was left beside the
// other's tables and the manifest named the other's files (about half the rounds here).
TEST_CASE("two reports written into one folder at once leave one whole report", "[report]") {
  fp::testing::TempDir dir("manifest_race");
  const std::string root = dir.path.string();
  const std::map<std::string, std::vector<std::string>> reports = {
      {"a", {"summary.csv", "by_variant.csv", "campaigns/a/results.csv"}},
      {"b", {"summary.csv", "individuals.csv", "campaigns/b/results.csv"}}};
  int mixed = 0;
  for (int round = 0; round < 100; ++round) {
    std::atomic<int> ready{0};
    std::vector<std::thread> writers;
    std::vector<fp::Status> outcome(2);
    int i = 0;
    for (const auto& [who, files] : reports) {
      writers.emplace_back([&, who = who, files = files, slot = i++] {
        fp::StagedFiles staged("report file");
        for (const auto& f : files) {
          std::filesystem::create_directories((dir.path / f).parent_path());
          outcome[slot] = staged.add((dir.path / f).string(), who + std::to_string(round));
          if (!outcome[slot].ok()) return;
        }
        ++ready;
        while (ready.load() < 2) std::this_thread::yield();
        outcome[slot] = fp::report::put_report_in_place(root, staged);
      });
    }
    for (auto& t : writers) t.join();
    for (const auto& s : outcome) REQUIRE(s.ok());
    // The manifest names one writer's files; each holds that writer's text; none of the other
    // writer's own files is left.
    std::istringstream listed(fp::testing::read_file(root + "/" + fp::report::kReportManifest));
    std::set<std::string> names, owners;
    for (std::string line; std::getline(listed, line);) {
      names.insert(line);
      owners.insert(fp::testing::read_file(root + "/" + line).substr(0, 1));
    }
    bool whole = owners.size() == 1;
    if (whole) {
      const auto& own = reports.at(*owners.begin());
      whole = names == std::set<std::string>(own.begin(), own.end());
      for (const auto& [who, files] : reports)
        for (const auto& f : files)
          if (!names.count(f) && std::filesystem::exists(dir.path / f)) whole = false;
    }
    mixed += whole ? 0 : 1;
  }
  CHECK(mixed == 0);
}

// fp-sim pool's two files (report/pooled_report.h write_pooled_comparisons): both or neither.
// A disk that filled after the CSV (here the kernel's file size limit between the two files'
// sizes) left the new CSV beside the old Markdown, read as one pool.
TEST_CASE("a pool's CSV and Markdown are put in place both or neither", "[report]") {
  fp::testing::TempDir dir("pooled");
  const std::string out = (dir.path / "pooled").string();
  const std::string csv = out + "/pooled_comparisons.csv", md = out + "/pooled_comparisons.md";
  REQUIRE(fp::report::write_pooled_comparisons(
              out, pool_comparisons({example_seed_run()}, "default"), {"first"})
              .ok());
  const std::string csv_before = fp::testing::read_file(csv);
  const std::string md_before = fp::testing::read_file(md);

  SeedRun other = example_seed_run();
  other.campaigns[0].second.individuals[0].methods["fine_prune"].accuracy = 0.95;
  const auto rows = pool_comparisons({other}, "default");
  // A long source name makes the Markdown the larger file.
  const std::vector<std::string> sources = {"second-" + std::string(4000, 's')};
  const size_t md_size = fp::report::pooled_markdown(rows, sources).size();
  REQUIRE(pooled_csv(rows).size() < md_size);
  REQUIRE(pooled_csv(rows) != csv_before);
  const fp::Status full = fp::testing::with_file_size_limit(md_size - 1, [&] {
    return fp::report::write_pooled_comparisons(out, rows, sources).status();
  });
  CHECK_FALSE(full.ok());
  CHECK(fp::testing::read_file(csv) == csv_before);
  CHECK(fp::testing::read_file(md) == md_before);
  // With room, both are the new pool's.
  REQUIRE(fp::report::write_pooled_comparisons(out, rows, sources).ok());
  CHECK(fp::testing::read_file(csv) == pooled_csv(rows));
  CHECK(fp::testing::read_file(md) == fp::report::pooled_markdown(rows, sources));
}
