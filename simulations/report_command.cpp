// fp-sim list / report / export / pool: finished (or interrupted) runs, read back from
// the SQLite file of a run directory.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "config/cli_checks.h"
#include "report/experiment_report.h"
#include "report/pooled_report.h"
#include "report/run_results.h"
#include "report/seed_run_file.h"
#include "sim_commands.h"
#include "store/run_store.h"
#include "store/serve_lock.h"
#include "store/store_to_read.h"
#include "util/file_io.h"

namespace fp::sim {

using report::format_summary;
using report::format_table;
using report::read_results;
using report::to_csv;
using report::to_json;
using report::write_experiment_report;
namespace {

namespace fs = std::filesystem;

struct ReportOptions {
  std::string db;
  int64_t run = 0;
  size_t table_rows = 0;
  std::string format = "csv", output;
  std::string out_dir;  // report: also write the experiment report here
};

// The database file --db names: the file itself, or the run folder holding fp.db.
fs::path database_path(const std::string& db) {
  fs::path path(db);
  if (fs::is_directory(path)) path /= "fp.db";
  return path;
}

// A run's status as recorded, except that one recorded as running which no process serves
// now was stopped without recording its end: "stopped".
std::string shown_status(const store::RunRecord& r, const std::string& db) {
  if (r.status == "running" && store::database_in_use(database_path(db).string()) == false)
    return "stopped";
  return r.status;
}

// The database --db names, opened; never creates one.
// A run database as it is (store/store_to_read.h): list, report, export and pool change no
// file (they added fp-sim's tables to an fp-coordinator database, and migrated an older one
// in place).
Result<store::StoreToRead> open_existing(const std::string& db) {
  const fs::path path = database_path(db);
  if (!fs::is_regular_file(path)) {
    return Status::not_found("no run database at " + path.string() +
                             " (pass --db <run dir>/fp.db or the run directory)");
  }
  return store::open_to_read(path.string(), "fp-sim-read");
}

int fail(const Status& s) {
  fmt::print(stderr, "error: {}\n", s.to_string());
  return 1;
}

int run_list(const ReportOptions& o) {
  auto store = open_existing(o.db);
  if (!store.ok()) return fail(store.status());
  auto sim = store::RunStore::open_to_read(*store->store);
  if (!sim.ok()) return fail(sim.status());
  auto runs = sim->runs();
  if (!runs.ok()) return fail(runs.status());
  if (runs->empty()) {
    fmt::print("no simulation runs in {}\n", o.db);
    return 0;
  }
  fmt::print("{:>4}  {:<24} {:>6} {:<12} {:>8} {:>7} {:>7} {:>10} {:>10}\n", "run", "scenario",
             "seed", "status", "wall(s)", "done", "failed", "gain(pp)", "sparsity%");
  int64_t last_failed = 0;
  for (const auto& r : *runs) {
    auto results = read_results(*store->store, r.id);
    if (!results.ok()) return fail(results.status());
    int64_t done = 0, failed = 0;
    for (const auto& s : results->summaries) {
      done += s.done;
      failed += s.failed;
    }
    last_failed = failed;
    auto stats = nlohmann::json::parse(r.stats_json, nullptr, false);
    double wall = stats.is_object() ? stats.value("wall_seconds", 0.0) : 0.0;
    std::string gain = "-", sparsity = "-";
    if (results->summaries.size() == 1 && results->summaries[0].gain.n > 0) {
      gain = fmt::format("{:+.1f}", 100 * results->summaries[0].gain.mean);
      sparsity = fmt::format("{:.1f}", 100 * results->summaries[0].sparsity.mean);
    } else if (results->summaries.size() > 1) {
      gain = sparsity = fmt::format("{} variants", results->summaries.size());
    }
    fmt::print("{:>4}  {:<24} {:>6} {:<12} {:>8.1f} {:>7} {:>7} {:>10} {:>10}\n", r.id, r.scenario,
               r.seed, shown_status(r, o.db), wall, done, failed, gain, sparsity);
  }
  const std::string last = shown_status(runs->back(), o.db);
  const std::string folder = database_path(o.db).parent_path().string();
  if (last != "done" && last != "running")
    fmt::print("run {} did not finish ({}): 'fp-sim run --resume --out {}' goes on with it\n",
               runs->back().id, last, folder);
  if (last != "running" && last_failed > 0) {
    fmt::print(
        "run {} has {} failed task(s): 'fp-sim run --resume --retry-failed --out {}' runs "
        "them again\n",
        runs->back().id, last_failed, folder);
  }
  return 0;
}

int run_report(const ReportOptions& o) {
  auto store = open_existing(o.db);
  if (!store.ok()) return fail(store.status());
  auto results = read_results(*store->store, o.run);
  if (!results.ok()) return fail(results.status());
  // A killed run's stored "running" is "stopped", here and in the report's files.
  results->run.status = shown_status(results->run, o.db);
  const std::string stats = report::format_run_stats(results->run.stats_json);
  fmt::print("run {}: scenario {}, seed {}, {}\n\n{}\n{}{}", results->run.id, results->run.scenario,
             results->run.seed, results->run.status, format_table(*results, o.table_rows),
             format_summary(*results), stats.empty() ? "" : "\n" + stats);
  if (!o.out_dir.empty()) {
    auto written = write_experiment_report(*store->store, *results, o.out_dir);
    if (!written.ok()) return fail(written.status());
    fmt::print("\nwrote {} file(s) to {}\n", written->size(), o.out_dir);
  }
  return 0;
}

int run_export(const ReportOptions& o) {
  auto store = open_existing(o.db);
  if (!store.ok()) return fail(store.status());
  auto results = read_results(*store->store, o.run);
  if (!results.ok()) return fail(results.status());
  // As list and report say it: a killed run's stored "running" is "stopped".
  results->run.status = shown_status(results->run, o.db);
  std::string text = o.format == "json" ? to_json(*results) + "\n" : to_csv(*results);
  if (o.output.empty() || o.output == "-") {
    fmt::print("{}", text);
    return 0;
  }
  const fs::path run_folder = database_path(o.db).parent_path();
  // The run's own files besides those write_output guards (its database, keys, models).
  Status written =
      write_output(o.output, text, "export",
                   {(run_folder / "scenario.toml").string(), (run_folder / "fp-sim.log").string()});
  if (!written.ok()) return fail(written);
  fmt::print(stderr, "wrote {} row(s) to {}\n", results->rows.size(), o.output);
  return 0;
}

struct PoolOptions {
  std::vector<std::string> dbs;
  std::string out_dir, versus_variant;
};

// How the pooled table names a run: the folder of its fp.db or seed_run.json.
std::string source_name(const std::string& path) {
  fs::path p(path);
  if (p.filename().empty()) p = p.parent_path();  // a trailing slash
  if (p.filename() == "fp.db" || p.filename() == report::kSeedRunFile) p = p.parent_path();
  return p.filename().string();
}

// A run to pool: a run's SQLite file or run directory, a report folder holding
// seed_run.json, or that file itself. A folder holding both is read from its fp.db: a report
// written into a run folder outlives a later run there (`fp-sim run --fresh` keeps it), and
// its seed_run.json was pooled in the run's place without a word.
Result<report::SeedRun> load_pool_source(const std::string& path) {
  fs::path file(path);
  if (fs::is_directory(file) && !fs::exists(file / "fp.db")) {
    if (!fs::exists(file / report::kSeedRunFile))
      return Status::not_found(path + " holds neither " + report::kSeedRunFile +
                               " (a report written since 18ba844) nor fp.db (a run folder)");
    file /= report::kSeedRunFile;
  }
  if (file.extension() == ".json") {
    FP_ASSIGN_OR_RETURN(std::string text, read_file(file.string()));
    return report::parse_seed_run(text, file.string());
  }
  FP_ASSIGN_OR_RETURN(auto store, open_existing(path));
  return report::load_seed_run(*store.store);
}

int run_pool(const PoolOptions& o) {
  std::vector<report::SeedRun> seeds;
  std::vector<std::string> sources;
  for (const auto& db : o.dbs) {
    auto seed = load_pool_source(db);
    if (!seed.ok()) {
      fmt::print(stderr, "error: {}: {}\n", db, seed.status().to_string());
      return 1;
    }
    if (seed->status != "done")
      return fail(Status::invalid_argument(
          db + ": its run (seed " + seed->label + ") was " + seed->status +
          ", not done: pool finished runs only (its missing individuals would go unnoticed)"));
    size_t evaluated = 0;
    for (const auto& [variant, results] : seed->campaigns) evaluated += results.individuals.size();
    if (evaluated == 0)  // named in the table's "pooled over" all the same, and holding nothing
      return fail(Status::invalid_argument(db + ": its run (seed " + seed->label +
                                           ") holds no evaluated individual: nothing of it to "
                                           "pool (did every task fail?)"));
    for (size_t i = 0; i < seeds.size(); ++i) {
      const report::SeedRun& other = seeds[i];
      if (other.label == seed->label)
        return fail(Status::invalid_argument(db + " is a second run of seed " + seed->label +
                                             ": pool runs of different seeds"));
      // Same variant names in two experiments would pool unrelated individuals.
      if (!other.scenario.empty() && !seed->scenario.empty() && other.scenario != seed->scenario)
        return fail(Status::invalid_argument(db + " is a run of scenario '" + seed->scenario +
                                             "', " + sources[i] + " of '" + other.scenario +
                                             "': pool seeds of one experiment"));
    }
    // Pooled all the same (its pairs stay pairs; each method's n says how many), but not
    // silently: runs of one experiment usually share these.
    for (size_t i = 0; i < seeds.size(); ++i) {
      if (!seeds[i].settings || !seed->settings || *seeds[i].settings == *seed->settings) continue;
      auto words = [](const std::vector<std::string>& s) {
        return s.empty() ? std::string("the scenario's own settings")
                         : fmt::format("{}", fmt::join(s, ", "));
      };
      fmt::print(stderr, "warning: {} ran with {}, {} with {}: pooled all the same\n",
                 source_name(db), words(*seed->settings), sources[i], words(*seeds[i].settings));
      break;
    }
    seeds.push_back(std::move(seed).value());
    sources.push_back(source_name(db));
  }
  if (!o.versus_variant.empty()) {
    std::set<std::string> variants;
    for (const auto& seed : seeds)
      for (const auto& [variant, results] : seed.campaigns) variants.insert(variant);
    if (!variants.count(o.versus_variant)) {
      return fail(Status::invalid_argument(
          fmt::format("--versus-variant '{}': no run holds that variant (they hold: {})",
                      o.versus_variant, fmt::join(variants, ", "))));
    }
  }
  const auto rows = report::pool_comparisons(seeds, o.versus_variant);
  if (rows.empty()) return fail(Status::invalid_argument("the runs hold no evaluated individual"));
  auto markdown = report::write_pooled_comparisons(o.out_dir, rows, sources);
  if (!markdown.ok()) return fail(markdown.status());
  fmt::print("{}\nwrote pooled_comparisons.csv and .md to {}\n", *markdown, o.out_dir);
  return 0;
}

void add_db_options(CLI::App* cmd, ReportOptions& o, bool with_run) {
  cmd->add_option("--db", o.db, "the run's SQLite file, or its run directory")->required();
  if (with_run)
    cmd->add_option("--run", o.run, "run id (default 0: the latest)")
        ->check(fp::config::at_least(0));
}

}  // namespace

void add_list_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* cmd = app.add_subcommand("list", "List the simulation runs stored in a run database");
  add_db_options(cmd, *o, false);
  cmd->callback([o] { throw CLI::RuntimeError(run_list(*o)); });
}

void add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* cmd = app.add_subcommand("report", "Print a stored run's per-individual table and summary");
  add_db_options(cmd, *o, true);
  cmd->add_option("--table-rows", o->table_rows, "print at most this many rows (0: all)")
      ->capture_default_str();
  cmd->add_option("--out", o->out_dir,
                  "also write the experiment report here: tables (CSV, Markdown), SVG figures");
  cmd->callback([o] { throw CLI::RuntimeError(run_report(*o)); });
}

void add_pool_command(CLI::App& app) {
  auto o = std::make_shared<PoolOptions>();
  auto* cmd = app.add_subcommand(
      "pool",
      "Pool runs of one experiment (one per seed) into paired comparisons over all their "
      "individuals: pooled_comparisons.csv and .md");
  cmd->add_option("runs", o->dbs,
                  "the runs: their report folders (seed_run.json), SQLite files or run "
                  "directories (latest run of each; a folder holding fp.db is read from it)")
      ->required();
  cmd->add_option("--out", o->out_dir, "folder to write the pooled tables to")->required();
  cmd->add_option("--versus-variant", o->versus_variant,
                  "also pair every variant's Fine-Pruning with this variant's");
  cmd->callback([o] { throw CLI::RuntimeError(run_pool(*o)); });
}

void add_export_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* cmd = app.add_subcommand("export", "Export a stored run's rows as CSV or JSON");
  add_db_options(cmd, *o, true);
  cmd->add_option("--format", o->format, "csv or json")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  cmd->add_option("--output,-o", o->output, "file to write (default: standard output)");
  cmd->callback([o] { throw CLI::RuntimeError(run_export(*o)); });
}

}  // namespace fp::sim
