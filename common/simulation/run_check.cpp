#include "simulation/run_check.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "simulation/campaign_plan.h"
#include "simulation/population.h"
#include "util/compute_threads.h"

namespace fp::sim {
namespace fs = std::filesystem;

Status check_run_folder(const RunOptions& o) {
  if (o.fresh && o.resume) return Status::invalid_argument("fresh and resume exclude each other");
  if (o.retry_failed && !o.resume)
    return Status::invalid_argument("retrying failed tasks goes with resume");
  const fs::path out(o.out_dir);
  std::error_code ec;
  if (o.fresh && fs::exists(out, ec)) {
    // --fresh deletes a run folder, never whatever --out happens to name (a typo'd home).
    const bool run_folder =
        fs::is_directory(out, ec) && (fs::is_empty(out, ec) || fs::exists(out / "fp.db", ec) ||
                                      fs::exists(out / "scenario.toml", ec));
    if (!run_folder) {
      return Status::invalid_argument(
          "--fresh: " + o.out_dir + " is not a run folder (" +
          (fs::is_directory(out, ec) ? "a folder without fp.db or scenario.toml" : "a file") +
          "): nothing deleted; give --out a new folder or a run folder");
    }
  }
  const bool held = fs::exists(out / "fp.db", ec);
  if (o.resume && !held) return Status::not_found(o.out_dir + " holds no run to resume (no fp.db)");
  if (!o.resume && !o.fresh && held) {
    return Status::invalid_argument(
        o.out_dir + " already holds a run: show it with 'fp-sim report --db " +
        run_database(o.out_dir) + "', or start over with --fresh (or another --out)");
  }
  return Status::ok_status();
}

namespace {

std::string range_words(std::vector<size_t> sizes) {
  if (sizes.empty()) return "none";
  const auto [low, high] = std::minmax_element(sizes.begin(), sizes.end());
  return *low == *high ? std::to_string(*low) : fmt::format("{}-{}", *low, *high);
}

// The methods each task runs: Fine-Pruning, the baselines, and each variant's sweep.
std::string methods_words(const Scenario& s) {
  std::vector<std::string> methods = {"fineprune"};
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
  if (s.best_classes > 0 && s.partition.classes.empty()) {
    // The partition depends on the pick, which needs the trained model.
    lines.push_back(fmt::format(
        "{} individual(s) from {}, of the {} classes the general model ({}) classifies best, "
        "picked at the start once it is trained",
        s.partition.num_individuals, s.data.dataset, s.best_classes, model));
    lines.push_back(counts_words(s, s.partition.num_individuals));
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
      lines.push_back(
          fmt::format("general model: {}, trained on {} sample(s)", model, general.size()));
    }
    lines.push_back(counts_words(s, individuals));
  }
  lines.push_back(fmt::format("hosting: {}, {} host(s) x {} worker(s)", hosting_mode_name(h.mode),
                              h.hosts, h.workers));
  return lines;
}

}  // namespace fp::sim
