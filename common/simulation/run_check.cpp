#include "simulation/run_check.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "coordinator/model_registry.h"
#include "experiment/methods.h"
#include "models/model_factory.h"
#include "simulation/campaign_plan.h"
#include "simulation/class_selection.h"
#include "simulation/population.h"
#include "store/run_store.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "store/store_to_read.h"
#include "util/compute_threads.h"
#include "util/file_io.h"

namespace fp::sim {
namespace fs = std::filesystem;

Status check_no_run_going(const std::string& out_dir) {
  const std::string database = run_database(out_dir);
  if (store::database_in_use(database) != true) return Status::ok_status();
  return Status::unavailable("a run is going in " + out_dir + " now (" +
                             store::database_holder(database).value_or("it has not said who") +
                             "; lock file " + store::serve_lock_file(database) +
                             "): wait for it, or stop it first");
}

Status check_run_folder(const RunOptions& o) {
  if (o.fresh && o.resume) return Status::invalid_argument("fresh and resume exclude each other");
  if (o.retry_failed && !o.resume)
    return Status::invalid_argument("retrying failed tasks goes with resume");
  const fs::path out(o.out_dir);
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    return Status::invalid_argument("--out " + o.out_dir + " is a file, not a folder");
  // Below a file, or where nothing may be written: --check said ready and the run named
  // its lock file ("fp.db.lock cannot be opened: Not a directory").
  FP_RETURN_IF_ERROR(check_can_make(o.out_dir, "--out"));
  const bool held = fs::exists(out / "fp.db", ec);
  const bool run_folder = held || fs::exists(out / "scenario.toml", ec);
  if (o.fresh && !run_folder && fs::exists(out, ec)) {
    // --fresh deletes a run folder, never whatever --out happens to name (a typo'd home); an
    // empty folder is one, the lock a run takes before its second look included.
    const std::string lock = fs::path(store::serve_lock_file(run_database(o.out_dir))).filename();
    for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename() == lock) continue;
      return Status::invalid_argument(
          "--fresh: " + o.out_dir +
          " is not a run folder (a folder without fp.db or "
          "scenario.toml, not empty: " +
          it->path().filename().string() +
          " ...): nothing deleted; give --out a new or empty folder, or a run folder");
    }
  }
  if (o.resume && !held) return Status::not_found(o.out_dir + " holds no run to resume (no fp.db)");
  // A run stopped in its set-up (a full disk, a kill) after SQLite made fp.db, before anything
  // was stored: nothing to resume, and its own folder to start over in (it was called another
  // program's database, and --fresh refused to delete it).
  const bool set_up_stopped =
      held && store::holds_no_records(run_database(o.out_dir)).value_or(false);
  if (o.resume && set_up_stopped)
    return Status::invalid_argument(o.out_dir +
                                    " holds a run that stopped in its set-up, before it stored "
                                    "anything: nothing to resume; start it over with --fresh");
  // An earlier run's agent journals without its database (deleted): a new run's agents read
  // them as their own and did nothing ("finished in an earlier run of this host").
  if (!o.resume && !o.fresh && !held && fs::exists(out / "hosts", ec))
    return Status::invalid_argument(
        o.out_dir +
        " holds an earlier run's files (hosts/) but not its database (fp.db): start "
        "over with --fresh (or another --out)");
  if (held && !o.resume && set_up_stopped && !o.fresh)
    return Status::invalid_argument(o.out_dir +
                                    " holds a run that stopped in its set-up, before it stored "
                                    "anything: start it over with --fresh");
  if (held && !o.resume && !set_up_stopped) {
    // Another program's fp.db (a fleet's, named so) is no run to start over: --fresh deleted
    // it. (--resume refuses it when it reads it.)
    auto read = store::open_to_read(run_database(o.out_dir), "fp-sim-check");
    const Status run_database_there =
        read.ok() ? store::RunStore::open_to_read(*read->store).status() : read.status();
    if (!run_database_there.ok())
      return Status::invalid_argument(
          "--out " + o.out_dir + " holds an fp.db that is no fp-sim run's (" +
          run_database_there.message() + "): " + (o.fresh ? "nothing deleted" : "not used") +
          "; give --out another folder");
    if (!o.fresh)
      return Status::invalid_argument(
          o.out_dir + " already holds a run: show it with 'fp-sim report --db " +
          run_database(o.out_dir) + "', or start over with --fresh (or another --out)");
  }
  return Status::ok_status();
}

Status check_resumable(const RunOptions& o) {
  FP_ASSIGN_OR_RETURN(store::StoreToRead read,
                      store::open_to_read(run_database(o.out_dir), "fp-sim-check"));
  store::Store& store = *read.store;
  FP_ASSIGN_OR_RETURN(store::RunStore sim, store::RunStore::open(store));
  FP_ASSIGN_OR_RETURN(store::RunRecord last, sim.run(0));
  FP_ASSIGN_OR_RETURN(auto campaigns, sim.campaigns(last.id));
  // The general models its tasks hand out: a missing file failed each task left (the check
  // said ready).
  coord::ModelRegistry registry((fs::path(o.out_dir) / "models").string(), store);
  for (const auto& rc : campaigns) {
    FP_ASSIGN_OR_RETURN(auto campaign, store.campaign(rc.campaign_id));
    if (!campaign) continue;
    if (auto model = registry.find(campaign->model_sha256); !model.ok())
      return Status::not_found("the run's general model is not there to resume with: " +
                               model.status().message());
  }
  return Status::ok_status();
}

bool scenario_copy_edited(const std::string& out_dir, const std::string& recorded_text) {
  auto there = read_file((fs::path(out_dir) / "scenario.toml").string(), "the run's scenario copy");
  return there.ok() && *there != recorded_text;
}

namespace {

std::string range_words(std::vector<size_t> sizes) {
  if (sizes.empty()) return "none";
  const auto [low, high] = std::minmax_element(sizes.begin(), sizes.end());
  return *low == *high ? std::to_string(*low) : fmt::format("{}-{}", *low, *high);
}

// The methods each task runs: Fine-Pruning, the baselines, and each variant's sweep.
std::string methods_words(const Scenario& s) {
  std::vector<std::string> methods = {kFinePruneMethod};
  methods.insert(methods.end(), s.baselines.methods.begin(), s.baselines.methods.end());
  std::string words = fmt::format("{}", fmt::join(methods, ", "));
  for (const auto& v : s.variants) {
    if (v.settings.sweep_targets.empty()) continue;
    words += fmt::format("; {}sweep {}", v.name.empty() ? "" : v.name + ": ",
                         fmt::join(v.settings.sweep_targets, ", "));
  }
  return words;
}

std::string counts_words(const Scenario& s, int64_t individuals) {
  const PlannedCounts counts = planned_counts(s, individuals);
  return fmt::format("{} campaign(s), {} task(s); each task runs {}", counts.campaigns,
                     counts.tasks, methods_words(s));
}

}  // namespace

Status check_protected_layers(const Scenario& s) {
  std::vector<std::string> names;  // built once, for the first variant that protects a layer
  for (const Variant& v : s.variants) {
    for (const std::string& layer : v.settings.prune.protected_layers) {
      if (names.empty()) {
        ModelSpec spec;  // the layers' names depend on the architecture, not on the input
        spec.arch = s.general.arch;
        spec.width_mult = s.general.width_mult;
        FP_ASSIGN_OR_RETURN(names, layer_names_of(spec));
      }
      if (std::find(names.begin(), names.end(), layer) != names.end()) continue;
      const std::string where =
          v.name.empty() ? "[fineprune]" : "[[fineprune.variants]] '" + v.name + "'";
      return Status::invalid_argument(
          fmt::format("{} protected_layers: '{}' is not a layer of the general model ({}: {})",
                      where, layer, s.general.arch, fmt::join(names, ", ")));
    }
  }
  return Status::ok_status();
}

Result<std::vector<std::string>> describe_run(const Scenario& s) {
  std::vector<std::string> lines;
  const HostingSection& h = s.hosting;
  if (h.mode == HostingMode::kInProcess) {
    FP_RETURN_IF_ERROR(check_concurrent_blas(
        h.hosts * h.workers,
        fmt::format("fp-sim run ({} in-process host(s) x {} workers)", h.hosts, h.workers)));
  }
  const GeneralSection& g = s.general;
  const std::string model = fmt::format("{} x{}, {} epoch(s)", g.arch, g.width_mult, g.epochs);
  int64_t individuals_planned = 0;
  if (s.best_classes > 0 && s.partition.classes.empty()) {
    // The partition depends on the pick, which needs the trained model; what the pick scores
    // on, and how many classes it can pick from, do not (the run found them after training).
    FP_ASSIGN_OR_RETURN(Dataset scoring, class_scoring_data(s));
    FP_RETURN_IF_ERROR(
        best_classes(std::vector<double>(static_cast<size_t>(scoring.num_classes()), 0.0),
                     s.best_classes)
            .status());
    lines.push_back(fmt::format(
        "{} individual(s) from {}, of the {} classes the general model ({}) classifies best, "
        "picked at the start once it is trained",
        s.partition.num_individuals, s.data.dataset, s.best_classes, model));
    lines.push_back(counts_words(s, s.partition.num_individuals));
    individuals_planned = s.partition.num_individuals;
  } else {
    FP_ASSIGN_OR_RETURN(Population p, load_population(s));
    std::vector<size_t> adaptation, evaluation;
    for (const auto& ind : p.individuals) {
      adaptation.push_back(ind.adaptation.size());
      evaluation.push_back(ind.evaluation.size());
    }
    const auto individuals = static_cast<int64_t>(p.individuals.size());
    lines.push_back(fmt::format(
        "{} individual(s) from {} ({} pool samples, partition {}): adaptation {} sample(s), "
        "evaluation {}",
        individuals, p.dataset, p.pool.size(), partition_method_name(s.partition.method),
        range_words(adaptation), range_words(evaluation)));
    if (g.leave_individual_out) {
      lines.push_back(fmt::format(
          "general models: {}, one per individual, each trained without that individual's "
          "samples",
          model));
    } else {
      FP_ASSIGN_OR_RETURN(Dataset general, general_training_data(s, p));
      // As the run logs it: a data.general_samples past the data trains on what is there.
      const std::string fewer =
          s.data.general_samples > general.size()
              ? fmt::format(" (data.general_samples asks for {}: only these are there)",
                            s.data.general_samples)
              : "";
      lines.push_back(fmt::format("general model: {}, trained on {} sample(s){}", model,
                                  general.size(), fewer));
    }
    lines.push_back(counts_words(s, individuals));
    individuals_planned = individuals;
  }
  // Before the pick the individuals are counted from the scenario; hosts without one are not
  // started.
  const int64_t hosts = hosts_to_start(h, static_cast<size_t>(individuals_planned));
  lines.push_back(fmt::format("hosting: {}, {} host(s) x {} worker(s){}", hosting_mode_name(h.mode),
                              hosts, h.workers,
                              hosts < h.hosts ? fmt::format(" (hosting.hosts = {}: one per "
                                                            "individual)",
                                                            h.hosts)
                                              : ""));
  return lines;
}

}  // namespace fp::sim
