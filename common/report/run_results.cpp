#include "report/run_results.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "experiment/methods.h"
#include "report/campaign_results.h"
#include "util/csv.h"

namespace fp::report {
namespace {

std::string pct(const std::optional<double>& v) {
  return v ? fmt::format("{:.1f}", 100 * *v) : std::string("-");
}

// `width`: the label column's (the summary's longest label, at least 22).
std::string stat_line(const std::string& label, const Stat& s, double scale, const char* unit,
                      size_t width) {
  if (s.n == 0) return fmt::format("  {:<{}} -\n", label, width);
  if (s.n == 1)
    return fmt::format("  {:<{}} {:>7.2f}{} (n=1: no spread)\n", label, width, scale * s.mean,
                       unit);
  return fmt::format("  {:<{}} {:>7.2f}{} ± {:<6.2f} (min {:.2f}, max {:.2f}, n={})\n", label,
                     width, scale * s.mean, unit, scale * s.std, scale * s.min, scale * s.max, s.n);
}

nlohmann::json opt(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json stat_json(const Stat& s) {
  return {{"n", s.n}, {"mean", s.mean}, {"std", s.std}, {"min", s.min}, {"max", s.max}};
}

std::string csv(const std::string& s) { return csv_field(s); }

std::string csv(const std::optional<double>& v) { return v ? fmt::format("{:.6f}", *v) : ""; }

// "classes=3+7#12" (a k-classes individual) -> 2; other names -> 0.
int64_t class_count(const std::string& individual) {
  if (individual.rfind("classes=", 0) != 0) return 0;
  const auto end = individual.find('#');
  return 1 + std::count(individual.begin(),
                        end == std::string::npos ? individual.end() : individual.begin() + end,
                        '+');
}

}  // namespace

std::optional<double> IndividualRow::gain() const {
  if (!general || !fine_prune) return std::nullopt;
  return *fine_prune - *general;
}

Stat describe(const std::vector<double>& v) {
  Stat s;
  s.n = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

std::string mean_spread_text(const Stat& s, double scale, int precision, bool signed_mean) {
  if (s.n == 0) return "-";
  const std::string mean = signed_mean ? fmt::format("{:+.{}f}", scale * s.mean, precision)
                                       : fmt::format("{:.{}f}", scale * s.mean, precision);
  if (s.n == 1) return mean;
  return fmt::format("{} ± {:.{}f}", mean, scale * s.std, precision);
}

std::string interval_text(int64_t n, double low, double high, double scale) {
  if (n < 2) return "-";
  return fmt::format("[{:+.1f}, {:+.1f}]", scale * low, scale * high);
}

// One row of the run's table: a view of the campaign results model, so fp-sim's
// tables and exports show what the dashboard shows.
IndividualRow row_of(const std::string& variant, const IndividualResult& i) {
  IndividualRow r;
  r.variant = variant;
  r.individual = i.individual;
  r.agent_id = i.agent_id;
  r.status = i.task_status;
  r.error = i.error;
  r.classes = class_count(i.individual);
  r.general = i.general_accuracy;
  r.adaptation_samples = i.adaptation_samples;
  r.eval_samples = i.eval_samples;
  r.macs_dense = i.macs_dense;
  r.evaluated = i.evaluated;
  r.measured = i.labeled().has_value();
  if (const MethodOutcome* m = i.method(kFinePruneMethod)) {
    r.fine_pruned = true;
    r.fine_prune = m->accuracy;
    r.sparsity = m->sparsity;
    r.target_sparsity = m->target_sparsity;
    r.fine_prune_seconds = m->wall_seconds;
    r.macs_fine_pruned = m->macs_effective;
    r.fine_prune_compute_macs = m->compute_macs;
    r.compact_bytes = m->compact_bytes;
  }
  if (const MethodOutcome* m = i.method("finetune")) {
    r.finetune = m->accuracy;
    r.finetune_seconds = m->wall_seconds;
    r.finetune_compute_macs = m->compute_macs;
  }
  if (const MethodOutcome* m = i.method("svd")) {
    r.svd = m->accuracy;
    r.svd_sparsity = m->sparsity;
  }
  for (const auto& [name, m] : i.methods) {
    if (name == kFinePruneMethod || name == "finetune" || name == "svd" || !m.accuracy) continue;
    r.other_accuracy[name] = *m.accuracy;
    r.other_compute_macs[name] = m.compute_macs;
  }
  return r;
}

Result<RunResults> read_results(store::Store& store, int64_t run_id) {
  FP_ASSIGN_OR_RETURN(store::RunStore sim, store::RunStore::open_to_read(store));
  RunResults out;
  FP_ASSIGN_OR_RETURN(out.run, sim.run(run_id));
  FP_ASSIGN_OR_RETURN(auto campaigns, sim.campaigns(out.run.id));
  std::vector<std::string> variant_order;
  std::map<std::string, std::vector<IndividualRow>> by_variant;
  for (const auto& c : campaigns) {
    if (std::find(variant_order.begin(), variant_order.end(), c.variant) == variant_order.end()) {
      variant_order.push_back(c.variant);
    }
    FP_ASSIGN_OR_RETURN(CampaignResults results,
                        load_campaign_results(store, c.campaign_id, out.run.finished_at));
    for (const auto& i : results.individuals) by_variant[c.variant].push_back(row_of(c.variant, i));
  }
  for (const auto& m : known_methods()) {
    bool reported = false;
    for (const auto& [variant, rows] : by_variant)
      for (const auto& r : rows) reported = reported || r.other_accuracy.count(m);
    if (reported) out.other_methods.push_back(m);
  }
  for (const auto& v : variant_order) {
    out.summaries.push_back(summarize_variant(v, by_variant[v], out.other_methods));
    for (auto& r : by_variant[v]) out.rows.push_back(std::move(r));
  }
  return out;
}

VariantSummary summarize_variant(const std::string& variant, const std::vector<IndividualRow>& rows,
                                 const std::vector<std::string>& other_methods) {
  VariantSummary s;
  s.variant = variant;
  std::vector<double> general, fine_prune, finetune, svd, gain, sparsity, mac_reduction;
  std::map<std::string, std::vector<double>> other;
  for (const auto& r : rows) {
    ++s.individuals;
    s.done += r.status == "done";
    s.failed += r.status == "failed";
    if (r.general) general.push_back(*r.general);
    if (r.fine_prune) fine_prune.push_back(*r.fine_prune);
    // Sparsity and MACs need no labels: a device without them counts too.
    if (r.fine_pruned) {
      sparsity.push_back(r.sparsity);
      mac_reduction.push_back(r.mac_reduction());
    }
    if (r.finetune) finetune.push_back(*r.finetune);
    if (r.svd) svd.push_back(*r.svd);
    if (auto g = r.gain()) gain.push_back(*g);
    for (const auto& [name, accuracy] : r.other_accuracy) other[name].push_back(accuracy);
  }
  s.general = describe(general);
  s.fine_prune = describe(fine_prune);
  s.finetune = describe(finetune);
  s.svd = describe(svd);
  s.gain = describe(gain);
  s.sparsity = describe(sparsity);
  s.mac_reduction = describe(mac_reduction);
  for (const auto& m : other_methods) s.other[m] = describe(other[m]);
  return s;
}

// A further method's accuracy, in a column as wide as its name.
std::string other_columns(const RunResults& results, const IndividualRow* r) {
  std::string out;
  for (const auto& m : results.other_methods) {
    std::string cell = m + "%";
    if (r) {
      auto it = r->other_accuracy.find(m);
      cell = !r->evaluated ? "n/a" : it == r->other_accuracy.end() ? "-" : pct(it->second);
    }
    out += fmt::format(" {:>{}}", cell, std::max<size_t>(8, m.size() + 1));
  }
  return out;
}

std::string format_table(const RunResults& results, size_t max_rows) {
  bool variants = results.summaries.size() > 1;
  std::string out =
      fmt::format("{}{:<24} {:>8} {:>10} {:>9} {:>8} {:>10} {:>9} {:>8} {:>9}{} {:>9}\n",
                  variants ? fmt::format("{:<14} ", "variant") : "", "individual", "general%",
                  "fineprune%", "sparsity%", "MACcut%", "compactKB", "gain(pp)", "finetune%",
                  "svd%", other_columns(results, nullptr), "status");
  size_t shown = 0;
  for (const auto& r : results.rows) {
    if (max_rows > 0 && shown == max_rows) {
      out += fmt::format("... {} more row(s): fp-sim report or fp-sim export show them all\n",
                         results.rows.size() - shown);
      break;
    }
    ++shown;
    auto gain = r.gain();
    out += fmt::format("{}{:<24} {:>8} {:>10} {:>9} {:>8} {:>10} {:>9} {:>8} {:>9}{} {:>9}\n",
                       variants ? fmt::format("{:<14} ", r.variant) : "", r.individual,
                       r.evaluated ? pct(r.general) : "unlabeled",
                       r.evaluated ? pct(r.fine_prune) : "n/a",
                       r.fine_pruned ? fmt::format("{:.1f}", 100 * r.sparsity) : "-",
                       r.fine_pruned ? fmt::format("{:.1f}", 100 * r.mac_reduction()) : "-",
                       r.compact_bytes > 0 ? fmt::format("{:.1f}", r.compact_bytes / 1024.0) : "-",
                       gain ? fmt::format("{:+.1f}", 100 * *gain) : "-", pct(r.finetune),
                       pct(r.svd), other_columns(results, &r), r.status);
  }
  return out;
}

std::string format_summary(const RunResults& results) {
  std::string out;
  const std::string kAccuracy = " accuracy";
  size_t w = 22;
  for (const auto& m : results.other_methods) w = std::max(w, m.size() + kAccuracy.size());
  for (const auto& s : results.summaries) {
    out += fmt::format("{}: {} individual(s), {} done, {} failed\n",
                       s.variant.empty() ? "summary" : "variant " + s.variant, s.individuals,
                       s.done, s.failed);
    out += stat_line("general accuracy", s.general, 100, "%", w);
    out += stat_line("fine-pruned accuracy", s.fine_prune, 100, "%", w);
    out += stat_line("accuracy gain", s.gain, 100, "pp", w);
    out += stat_line("sparsity", s.sparsity, 100, "%", w);
    out += stat_line("MAC reduction", s.mac_reduction, 100, "%", w);
    if (s.finetune.n) out += stat_line("fine-tuned accuracy", s.finetune, 100, "%", w);
    if (s.svd.n) out += stat_line("SVD accuracy", s.svd, 100, "%", w);
    for (const auto& m : results.other_methods)
      if (s.other.at(m).n) out += stat_line(m + kAccuracy, s.other.at(m), 100, "%", w);
  }
  return out;
}

std::string format_run_stats(const std::string& stats_json) {
  auto j = nlohmann::json::parse(stats_json, nullptr, false);
  // A run killed before its end wrote none: no line of zeros ("wall 0.0 s ... 0 process(es)").
  if (j.is_discarded() || !j.is_object() || !(j.value("wall_seconds", 0.0) > 0)) return {};
  std::string out = fmt::format(
      "wall {:.1f} s (setup {:.1f} s incl. training {:.1f} s; campaign {:.1f} s); agents' "
      "Fine-Pruning compute {:.1f} s; framework overhead {:.1f}% of CPU, {:.1f}% of worker "
      "time; {:.0f} telemetry rows/s; peak memory {:.0f} MB over {} process(es)\n",
      j.value("wall_seconds", 0.0), j.value("setup_seconds", 0.0), j.value("train_seconds", 0.0),
      j.value("campaign_seconds", 0.0), j.value("compute_seconds", 0.0),
      100 * j.value("overhead_cpu_share", 0.0), 100 * j.value("overhead_wall_share", 0.0),
      j.value("telemetry_per_second", 0.0), j.value("peak_rss_total_mb", 0.0),
      j.contains("processes") ? j["processes"].size() : 0);
  return out;
}

std::string to_csv(const RunResults& results) {
  std::string out =
      "run,scenario,variant,individual,agent_id,status,general_accuracy,fine_prune_accuracy,"
      "sparsity,target_sparsity,gain,finetune_accuracy,svd_accuracy,svd_sparsity,"
      "adaptation_samples,eval_samples,fine_prune_seconds,macs_dense,macs_fine_pruned,"
      "finetune_seconds,fine_prune_compute_macs,finetune_compute_macs,classes,error,"
      "mac_reduction,compact_bytes,evaluated";
  for (const auto& m : results.other_methods) out += "," + m + "_accuracy," + m + "_compute_macs";
  out += "\n";
  for (const auto& r : results.rows) {
    bool fp = r.fine_pruned;
    out += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.6f},{},{},{},{},{},{},{}",
        results.run.id, csv(results.run.scenario), csv(r.variant), csv(r.individual),
        csv(r.agent_id), r.status, csv(r.general), csv(r.fine_prune),
        fp ? fmt::format("{:.6f}", r.sparsity) : "",
        fp ? fmt::format("{:.6f}", r.target_sparsity) : "", csv(r.gain()), csv(r.finetune),
        csv(r.svd), r.svd_sparsity ? fmt::format("{:.6f}", *r.svd_sparsity) : "",
        r.adaptation_samples, r.eval_samples, fmt::format("{:.6f}", r.fine_prune_seconds),
        r.macs_dense, r.macs_fine_pruned, r.finetune_seconds, r.fine_prune_compute_macs,
        r.finetune_compute_macs, r.classes, csv(r.error),
        fp ? fmt::format("{:.6f}", r.mac_reduction()) : "", r.compact_bytes,
        !r.measured   ? ""
        : r.evaluated ? "1"
                      : "0");
    for (const auto& m : results.other_methods) {
      auto accuracy = r.other_accuracy.find(m);
      auto macs = r.other_compute_macs.find(m);
      out += accuracy == r.other_accuracy.end()
                 ? std::string(",,")
                 : fmt::format(",{:.6f},{}", accuracy->second, macs->second);
    }
    out += "\n";
  }
  return out;
}

std::string to_json(const RunResults& results) {
  nlohmann::json j;
  auto stats = nlohmann::json::parse(results.run.stats_json, nullptr, false);
  j["run"] = {{"id", results.run.id},
              {"scenario", results.run.scenario},
              {"seed", results.run.seed},
              {"status", results.run.status},
              {"started_at", results.run.started_at},
              {"finished_at", results.run.finished_at},
              {"stats", stats.is_discarded() ? nlohmann::json::object() : stats}};
  j["other_methods"] = results.other_methods;
  j["summaries"] = nlohmann::json::array();
  for (const auto& s : results.summaries) {
    nlohmann::json other = nlohmann::json::object();
    for (const auto& [name, stat] : s.other) other[name] = stat_json(stat);
    j["summaries"].push_back({{"variant", s.variant},
                              {"individuals", s.individuals},
                              {"done", s.done},
                              {"failed", s.failed},
                              {"general_accuracy", stat_json(s.general)},
                              {"fine_prune_accuracy", stat_json(s.fine_prune)},
                              {"finetune_accuracy", stat_json(s.finetune)},
                              {"svd_accuracy", stat_json(s.svd)},
                              {"gain", stat_json(s.gain)},
                              {"sparsity", stat_json(s.sparsity)},
                              {"mac_reduction", stat_json(s.mac_reduction)},
                              {"other_accuracy", std::move(other)}});
  }
  j["rows"] = nlohmann::json::array();
  for (const auto& r : results.rows) {
    nlohmann::json other = nlohmann::json::object();
    for (const auto& [name, accuracy] : r.other_accuracy)
      other[name] = {{"accuracy", accuracy}, {"compute_macs", r.other_compute_macs.at(name)}};
    j["rows"].push_back(
        {{"variant", r.variant},
         {"individual", r.individual},
         {"agent_id", r.agent_id},
         {"status", r.status},
         {"error", r.error},
         // Nothing measured (a failed or pending task): neither labeled nor not; it said true.
         {"evaluated", r.measured ? nlohmann::json(r.evaluated) : nullptr},
         {"general_accuracy", opt(r.general)},
         {"fine_prune_accuracy", opt(r.fine_prune)},
         {"sparsity", r.fine_pruned ? nlohmann::json(r.sparsity) : nullptr},
         {"target_sparsity", r.fine_pruned ? nlohmann::json(r.target_sparsity) : nullptr},
         {"gain", opt(r.gain())},
         {"finetune_accuracy", opt(r.finetune)},
         {"svd_accuracy", opt(r.svd)},
         {"svd_sparsity", opt(r.svd_sparsity)},
         {"adaptation_samples", r.adaptation_samples},
         {"eval_samples", r.eval_samples},
         {"fine_prune_seconds", r.fine_prune_seconds},
         {"finetune_seconds", r.finetune_seconds},
         {"macs_dense", r.macs_dense},
         {"macs_fine_pruned", r.macs_fine_pruned},
         {"mac_reduction", r.fine_pruned ? nlohmann::json(r.mac_reduction()) : nullptr},
         {"fine_prune_compute_macs", r.fine_prune_compute_macs},
         {"finetune_compute_macs", r.finetune_compute_macs},
         {"classes", r.classes},
         {"compact_bytes", r.compact_bytes},
         {"other_methods", std::move(other)}});
  }
  return j.dump(2);
}

}  // namespace fp::report
