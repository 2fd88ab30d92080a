#include "report/experiment_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "experiment/methods.h"
#include "report/campaign_report.h"
#include "report/pooled_report.h"
#include "report/report_manifest.h"
#include "report/report_table.h"
#include "report/seed_run_file.h"
#include "report/svg_chart.h"
#include "report/svg_figures.h"
#include "stats/summary.h"
#include "store/run_store.h"
#include "util/file_io.h"

namespace fp::report {
namespace {

namespace fs = std::filesystem;

using Table = ReportTable;

std::string num(double v) { return fmt::format("{:.6g}", v); }
std::string opt_num(const std::optional<double>& v) { return v ? num(*v) : ""; }
std::string pct(double v) { return fmt::format("{:.1f}", 100 * v); }
std::string opt_pct(const std::optional<double>& v) { return v ? pct(*v) : "-"; }
std::string mean_std(const Stat& s) { return mean_spread_text(s, 100, 1); }
std::string giga(double macs) { return fmt::format("{:.3g}", macs / 1e9); }

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

std::vector<const IndividualRow*> rows_of(const RunResults& results, const std::string& variant) {
  std::vector<const IndividualRow*> out;
  for (const auto& r : results.rows) {
    if (r.variant == variant) out.push_back(&r);
  }
  return out;
}

// The accuracy of the four methods, by name, for the grouped tables and figures.
const std::vector<std::pair<std::string, std::optional<double> IndividualRow::*>>& methods() {
  static const std::vector<std::pair<std::string, std::optional<double> IndividualRow::*>> m = {
      {kGeneralMethod, &IndividualRow::general},
      {kFinePruneMethod, &IndividualRow::fine_prune},
      {"finetune", &IndividualRow::finetune},
      {"svd", &IndividualRow::svd}};
  return m;
}

Stat method_stat(const std::vector<const IndividualRow*>& rows,
                 std::optional<double> IndividualRow::*field) {
  std::vector<double> v;
  for (const auto* r : rows) {
    if (r->*field) v.push_back(*(r->*field));
  }
  return describe(v);
}

Table summary_table(const RunResults& results) {
  Table t;
  t.header = {"variant", "individuals", "done", "failed", kGeneralMethod, kFinePruneMethod,
              "finetune", "svd", "gain", "gain_median", "gain_p10", "gain_p90",
              // Shares of the individuals (comparisons' improved / worse are counts).
              "improved_share", "worse_share", "sparsity", "fine_prune_s", "finetune_s",
              "fine_prune_GMAC", "finetune_GMAC", "finetune/fine_prune_MAC", "gain_ci_low",
              "gain_ci_high", "gain_p"};
  for (const auto& s : results.summaries) {
    auto rows = rows_of(results, s.variant);
    std::vector<double> gains, fp_s, ft_s, fp_macs, ft_macs;
    int64_t improved = 0, worse = 0;
    std::vector<double> general, fine_prune;
    for (const auto* r : rows) {
      if (auto g = r->gain()) {
        gains.push_back(*g);
        general.push_back(*r->general);
        fine_prune.push_back(*r->fine_prune);
        // Only changes beyond one evaluation sample's worth count.
        const double one = r->eval_samples > 0 ? 1.0 / static_cast<double>(r->eval_samples) : 0;
        improved += *g > one + 1e-9;
        worse += *g < -one - 1e-9;
      }
      if (r->fine_pruned) {  // its cost needs no labels
        fp_s.push_back(r->fine_prune_seconds);
        fp_macs.push_back(static_cast<double>(r->fine_prune_compute_macs));
      }
      if (r->finetune) {
        ft_s.push_back(r->finetune_seconds);
        ft_macs.push_back(static_cast<double>(r->finetune_compute_macs));
      }
    }
    const stats::PairedSummary paired = stats::summarize_paired(general, fine_prune);
    const double n = std::max<double>(1, static_cast<double>(gains.size()));
    const double ratio = mean_of(fp_macs) > 0 ? mean_of(ft_macs) / mean_of(fp_macs) : 0.0;
    const std::string name = s.variant.empty() ? "(default)" : s.variant;
    t.csv_rows.push_back({name,
                          std::to_string(s.individuals),
                          std::to_string(s.done),
                          std::to_string(s.failed),
                          num(s.general.mean),
                          num(s.fine_prune.mean),
                          num(s.finetune.mean),
                          num(s.svd.mean),
                          num(s.gain.mean),
                          num(stats::quantile(gains, 0.5)),
                          num(stats::quantile(gains, 0.1)),
                          num(stats::quantile(gains, 0.9)),
                          num(improved / n),
                          num(worse / n),
                          num(s.sparsity.mean),
                          num(mean_of(fp_s)),
                          num(mean_of(ft_s)),
                          num(mean_of(fp_macs) / 1e9),
                          num(mean_of(ft_macs) / 1e9),
                          num(ratio),
                          num(paired.ci.low),
                          num(paired.ci.high),
                          num(paired.wilcoxon.p_value)});
    t.md_rows.push_back({name,
                         std::to_string(s.individuals),
                         std::to_string(s.done),
                         std::to_string(s.failed),
                         mean_std(s.general),
                         mean_std(s.fine_prune),
                         mean_std(s.finetune),
                         mean_std(s.svd),
                         mean_spread_text(s.gain, 100, 1, true),
                         fmt::format("{:+.1f}", 100 * stats::quantile(gains, 0.5)),
                         fmt::format("{:+.1f}", 100 * stats::quantile(gains, 0.1)),
                         fmt::format("{:+.1f}", 100 * stats::quantile(gains, 0.9)),
                         fmt::format("{:.0f}%", 100 * improved / n),
                         fmt::format("{:.0f}%", 100 * worse / n),
                         mean_std(s.sparsity),
                         fmt::format("{:.2f}", mean_of(fp_s)),
                         fmt::format("{:.2f}", mean_of(ft_s)),
                         giga(mean_of(fp_macs)),
                         giga(mean_of(ft_macs)),
                         fmt::format("{:.1f}x", ratio),
                         paired.n > 1 ? fmt::format("{:+.1f}", 100 * paired.ci.low) : "-",
                         paired.n > 1 ? fmt::format("{:+.1f}", 100 * paired.ci.high) : "-",
                         fmt::format("{:.2g}", paired.wilcoxon.p_value)});
  }
  return t;
}

// The accuracy of `method` for one row (named methods and further ones).
std::optional<double> accuracy_of(const IndividualRow& r, const std::string& method) {
  for (const auto& [name, field] : methods())
    if (name == method) return r.*field;
  auto it = r.other_accuracy.find(method);
  return it == r.other_accuracy.end() ? std::nullopt : std::optional<double>(it->second);
}

Table individuals_table(const RunResults& results) {
  Table t;
  t.header = {"variant",  "individual", kGeneralMethod, kFinePruneMethod,
              "sparsity", "gain",       "finetune",     "svd"};
  t.header.insert(t.header.end(), results.other_methods.begin(), results.other_methods.end());
  t.header.push_back("status");
  for (const auto& r : results.rows) {
    auto gain = r.gain();
    std::vector<std::string> csv = {r.variant,
                                    r.individual,
                                    opt_num(r.general),
                                    opt_num(r.fine_prune),
                                    r.fine_pruned ? num(r.sparsity) : "",
                                    opt_num(gain),
                                    opt_num(r.finetune),
                                    opt_num(r.svd)};
    std::vector<std::string> md = {r.variant.empty() ? "-" : r.variant,
                                   r.individual,
                                   opt_pct(r.general),
                                   opt_pct(r.fine_prune),
                                   r.fine_pruned ? pct(r.sparsity) : "-",
                                   gain ? fmt::format("{:+.1f}", 100 * *gain) : "-",
                                   opt_pct(r.finetune),
                                   opt_pct(r.svd)};
    for (const auto& m : results.other_methods) {
      csv.push_back(opt_num(accuracy_of(r, m)));
      md.push_back(opt_pct(accuracy_of(r, m)));
    }
    csv.push_back(r.status);
    md.push_back(r.status);
    t.csv_rows.push_back(std::move(csv));
    t.md_rows.push_back(std::move(md));
  }
  return t;
}

Table compute_table(const RunResults& results) {
  Table t;
  t.header = {"variant",         "individual",    "fine_prune_s", "finetune_s",
              "fine_prune_GMAC", "finetune_GMAC", "time_ratio",   "MAC_ratio"};
  for (const auto& r : results.rows) {
    if (!r.fine_prune || !r.finetune) continue;
    const double time_ratio =
        r.fine_prune_seconds > 0 ? r.finetune_seconds / r.fine_prune_seconds : 0;
    const double mac_ratio =
        r.fine_prune_compute_macs > 0
            ? static_cast<double>(r.finetune_compute_macs) / r.fine_prune_compute_macs
            : 0;
    t.csv_rows.push_back({r.variant, r.individual, num(r.fine_prune_seconds),
                          num(r.finetune_seconds), num(r.fine_prune_compute_macs / 1e9),
                          num(r.finetune_compute_macs / 1e9), num(time_ratio), num(mac_ratio)});
    t.md_rows.push_back({r.variant.empty() ? "-" : r.variant, r.individual,
                         fmt::format("{:.3f}", r.fine_prune_seconds),
                         fmt::format("{:.3f}", r.finetune_seconds),
                         giga(static_cast<double>(r.fine_prune_compute_macs)),
                         giga(static_cast<double>(r.finetune_compute_macs)),
                         fmt::format("{:.1f}x", time_ratio), fmt::format("{:.1f}x", mac_ratio)});
  }
  return t;
}

// Every method a variant's rows report, general first, then in a fixed order.
std::vector<std::string> reported_methods(const std::vector<const IndividualRow*>& rows) {
  std::vector<std::string> out;
  for (const auto& [name, field] : methods()) {
    for (const auto* r : rows)
      if (r->*field) {
        out.push_back(name);
        break;
      }
  }
  std::set<std::string> others;
  for (const auto* r : rows)
    for (const auto& [name, acc] : r->other_accuracy) others.insert(name);
  out.insert(out.end(), others.begin(), others.end());
  return out;
}

// Paired comparisons, per variant: every method against the general model, and
// Fine-Pruning against every other method. Mean, median, 95% bootstrap CI of the mean
// difference (b - a), Wilcoxon signed-rank p, and individuals improved / worse by more
// than one evaluation sample. Rows are paired: only individuals with both methods count.
Table comparisons_table(const RunResults& results) {
  Table t;
  t.header = {"variant",   "method",        "versus", "n",       "mean_a",     "mean_b",
              "mean_diff", "median_diff",   "ci_low", "ci_high", "p_wilcoxon", "improved",
              "worse",     "b_compute_GMAC"};
  // One "[low, high]" cell for the interval: the rows had a cell fewer than the header, and
  // every value from ci_high on stood under its neighbour's name.
  t.merge_interval_columns(8);
  for (const auto& s : results.summaries) {
    auto rows = rows_of(results, s.variant);
    const auto names = reported_methods(rows);
    std::vector<std::pair<std::string, std::string>> pairs;  // (b, a)
    for (const auto& m : names)
      if (m != kGeneralMethod) pairs.emplace_back(m, kGeneralMethod);
    for (const auto& m : names)
      if (m != kGeneralMethod && m != kFinePruneMethod) pairs.emplace_back(kFinePruneMethod, m);
    for (const auto& [b_name, a_name] : pairs) {
      std::vector<double> a, b;
      double compute = 0;
      int64_t eval_samples = 0;
      for (const auto* r : rows) {
        auto va = accuracy_of(*r, a_name), vb = accuracy_of(*r, b_name);
        if (!va || !vb) continue;
        a.push_back(*va);
        b.push_back(*vb);
        eval_samples = eval_samples ? std::min(eval_samples, r->eval_samples) : r->eval_samples;
        auto it = r->other_compute_macs.find(b_name);
        compute += b_name == kFinePruneMethod ? static_cast<double>(r->fine_prune_compute_macs)
                   : b_name == "finetune"     ? static_cast<double>(r->finetune_compute_macs)
                   : it != r->other_compute_macs.end() ? static_cast<double>(it->second)
                                                       : 0.0;
      }
      if (a.empty()) continue;
      stats::PairedOptions o;
      o.resolution = eval_samples > 0 ? 1.0 / static_cast<double>(eval_samples) : 0.0;
      const auto p = stats::summarize_paired(a, b, o);
      const double gmac = compute / static_cast<double>(a.size()) / 1e9;
      const std::string variant = s.variant.empty() ? "(default)" : s.variant;
      t.csv_rows.push_back({variant, b_name, a_name, std::to_string(p.n), num(p.mean_a),
                            num(p.mean_b), num(p.mean_diff), num(p.median_diff), num(p.ci.low),
                            num(p.ci.high), num(p.wilcoxon.p_value), std::to_string(p.improved),
                            std::to_string(p.worse), num(gmac)});
      t.md_rows.push_back(
          {variant, b_name, a_name, std::to_string(p.n), pct(p.mean_a), pct(p.mean_b),
           fmt::format("{:+.1f}", 100 * p.mean_diff), fmt::format("{:+.1f}", 100 * p.median_diff),
           interval_text(p.n, p.ci.low, p.ci.high, 100), fmt::format("{:.2g}", p.wilcoxon.p_value),
           std::to_string(p.improved), std::to_string(p.worse), giga(compute / a.size())});
    }
  }
  return t;
}

// Mean accuracy of each method per group (a variant, a class count), as a table and
// the points of a figure's series.
struct Grouped {
  Table table;
  std::vector<LineSeries> series;
};

Grouped grouped(const std::string& key_name,
                const std::vector<std::pair<double, std::vector<const IndividualRow*>>>& groups,
                const std::vector<std::string>& labels) {
  Grouped g;
  g.table.header = {key_name, "individuals"};
  for (const auto& [name, field] : methods()) g.table.header.push_back(name);
  g.table.header.push_back("gain");
  for (const auto& [name, field] : methods()) {
    g.series.push_back({method_label(name), method_color(name), {}});
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& [x, rows] = groups[i];
    std::vector<std::string> csv = {labels[i], std::to_string(rows.size())};
    std::vector<std::string> md = csv;
    size_t m = 0;
    for (const auto& [name, field] : methods()) {
      Stat s = method_stat(rows, field);
      csv.push_back(s.n ? num(s.mean) : "");
      md.push_back(mean_std(s));
      if (s.n) g.series[m].points.emplace_back(x, s.mean);
      ++m;
    }
    std::vector<double> gains;
    for (const auto* r : rows) {
      if (auto v = r->gain()) gains.push_back(*v);
    }
    Stat gain = describe(gains);
    csv.push_back(gain.n ? num(gain.mean) : "");
    md.push_back(mean_spread_text(gain, 100, 1, true));
    g.table.csv_rows.push_back(std::move(csv));
    g.table.md_rows.push_back(std::move(md));
  }
  return g;
}

// The adaptation samples each variant was limited to (0: all), from its campaign's config.
Result<std::map<std::string, int64_t>> variant_samples(store::Store& store, int64_t run_id) {
  FP_ASSIGN_OR_RETURN(store::RunStore sim, store::RunStore::open_to_read(store));
  FP_ASSIGN_OR_RETURN(auto campaigns, sim.campaigns(run_id));
  std::map<std::string, int64_t> out;
  for (const auto& c : campaigns) {
    FP_ASSIGN_OR_RETURN(auto record, store.campaign(c.campaign_id));
    if (!record) continue;
    auto j = nlohmann::json::parse(record->prune_config_json, nullptr, false);
    out[c.variant] = j.is_object() ? j.value("adaptation_samples", int64_t{0}) : 0;
  }
  return out;
}

// The report's files, staged and put in place together (StagedFiles): a disk that filled
// half way left a folder holding half of each of two runs' reports.
class Writer {
 public:
  explicit Writer(std::string dir) : dir_(std::move(dir)) {}
  Status file(const std::string& name, const std::string& text) {
    return files_.add((fs::path(dir_) / name).string(), text);
  }
  Status table(const std::string& stem, const Table& t) {
    FP_RETURN_IF_ERROR(file(stem + ".csv", t.csv()));
    return file(stem + ".md", t.markdown());
  }
  StagedFiles& files() { return files_; }

 private:
  std::string dir_;
  StagedFiles files_{"report file"};
};

}  // namespace

Result<std::vector<std::string>> write_experiment_report(store::Store& store,
                                                         const RunResults& results,
                                                         const std::string& dir) {
  FP_RETURN_IF_ERROR(make_output_folder(dir, "report folder"));
  Writer w(dir);
  const std::string title =
      fmt::format("{} (run {}, seed {})", results.run.scenario, results.run.id, results.run.seed);
  FP_RETURN_IF_ERROR(w.table("summary", summary_table(results)));
  FP_RETURN_IF_ERROR(w.table("individuals", individuals_table(results)));
  FP_RETURN_IF_ERROR(w.table("compute", compute_table(results)));
  FP_RETURN_IF_ERROR(w.table("comparisons", comparisons_table(results)));
  {
    FP_ASSIGN_OR_RETURN(SeedRun seed, load_seed_run(store, results.run.id));
    seed.status = results.run.status;  // as the caller shows it (a killed run: "stopped")
    FP_RETURN_IF_ERROR(w.file(kSeedRunFile, seed_run_to_json(seed)));
  }

  // The spread of the gain: every individual's, sorted, one series per variant.
  {
    LineChart chart;
    chart.title = "Fine-Pruning gain, sorted: " + title;
    chart.x_label = "individuals, sorted by gain (share)";
    chart.y_label = "accuracy gain over the general model";
    chart.x_name = "rank";
    chart.y_name = "gain";
    double lo = 0, hi = 0;
    static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    size_t i = 0;
    for (const auto& s : results.summaries) {
      std::vector<double> gains;
      for (const auto* r : rows_of(results, s.variant)) {
        if (auto g = r->gain()) gains.push_back(*g);
      }
      std::sort(gains.begin(), gains.end());
      LineSeries series{s.variant.empty() ? "gain" : s.variant, kColors[i++ % 8], {}};
      series.stroke_width = 1.0;
      for (size_t k = 0; k < gains.size(); ++k) {
        const double x = gains.size() > 1 ? static_cast<double>(k) / (gains.size() - 1) : 0.5;
        series.points.emplace_back(x, gains[k]);
        lo = std::min(lo, gains[k]);
        hi = std::max(hi, gains[k]);
      }
      chart.series.push_back(std::move(series));
    }
    lo = std::floor(lo * 10 - 1e-9) / 10;
    hi = std::max(std::ceil(hi * 10 + 1e-9) / 10, lo + 0.1);
    chart.y_range = std::make_pair(lo, hi);
    FP_RETURN_IF_ERROR(w.file("gain.svg", render_line_chart(chart)));
  }

  // Several variants: each method's mean accuracy per variant, over the adaptation
  // samples when the variants limit them (Figure 3b), else in the scenario's order.
  if (results.summaries.size() > 1) {
    FP_ASSIGN_OR_RETURN(auto samples, variant_samples(store, results.run.id));
    bool by_samples = true;
    for (const auto& s : results.summaries) by_samples = by_samples && samples[s.variant] > 0;
    std::vector<std::pair<double, std::vector<const IndividualRow*>>> groups;
    std::vector<std::string> labels;
    double x_max = 0;
    for (size_t i = 0; i < results.summaries.size(); ++i) {
      const auto& v = results.summaries[i].variant;
      const double x = by_samples ? static_cast<double>(samples[v]) : static_cast<double>(i + 1);
      x_max = std::max(x_max, x);
      groups.emplace_back(x, rows_of(results, v));
      labels.push_back(v);
    }
    Grouped g = grouped("variant", groups, labels);
    FP_RETURN_IF_ERROR(w.table("by_variant", g.table));
    LineChart chart;
    chart.title = "Mean accuracy per variant: " + title;
    chart.x_label = by_samples ? "adaptation samples per individual" : "variant (scenario order)";
    chart.y_label = "mean accuracy";
    chart.x_name = by_samples ? "samples" : "variant";
    chart.series = std::move(g.series);
    chart.x_range = std::make_pair(0.0, x_max);
    chart.x_percent = false;
    FP_RETURN_IF_ERROR(w.file("by_variant.svg", render_line_chart(chart)));
  }

  // Individuals of different class counts: each method's mean accuracy per count (Figure 3c),
  // per variant: variants change what is measured (samples, sparsity), and a count's mean over
  // all of them would mix those in. Several variants: a `variant` column and a figure each.
  {
    const bool variants = results.summaries.size() > 1;
    Table table;
    for (const auto& s : results.summaries) {
      std::map<int64_t, std::vector<const IndividualRow*>> by_k;
      for (const auto* r : rows_of(results, s.variant)) {
        if (r->classes > 0) by_k[r->classes].push_back(r);
      }
      if (by_k.size() < 2) continue;
      std::vector<std::pair<double, std::vector<const IndividualRow*>>> groups;
      std::vector<std::string> labels;
      for (auto& [k, rows] : by_k) {
        groups.emplace_back(static_cast<double>(k), rows);
        labels.push_back(std::to_string(k));
      }
      Grouped g = grouped("classes", groups, labels);
      if (variants) {
        g.table.header.insert(g.table.header.begin(), "variant");
        for (auto& row : g.table.csv_rows) row.insert(row.begin(), s.variant);
        for (auto& row : g.table.md_rows) row.insert(row.begin(), s.variant);
      }
      table.header = g.table.header;
      for (auto& row : g.table.csv_rows) table.csv_rows.push_back(std::move(row));
      for (auto& row : g.table.md_rows) table.md_rows.push_back(std::move(row));
      LineChart chart;
      chart.title = "Mean accuracy by classes per individual: " + title +
                    (variants ? " (variant " + s.variant + ")" : "");
      chart.x_label = "classes per individual";
      chart.y_label = "mean accuracy";
      chart.x_name = "classes";
      chart.series = std::move(g.series);
      chart.x_range = std::make_pair(0.0, static_cast<double>(by_k.rbegin()->first));
      chart.x_percent = false;
      // Variant names are file-name safe (scenario.cpp's valid_name).
      FP_RETURN_IF_ERROR(w.file(variants ? "by_classes_" + s.variant + ".svg" : "by_classes.svg",
                                render_line_chart(chart)));
    }
    if (!table.csv_rows.empty()) FP_RETURN_IF_ERROR(w.table("by_classes", table));
  }

  // Each campaign's own report, as the dashboard draws it (Figure 2 bars, Figure 3a curve).
  FP_ASSIGN_OR_RETURN(store::RunStore sim, store::RunStore::open_to_read(store));
  FP_ASSIGN_OR_RETURN(auto campaigns, sim.campaigns(results.run.id));
  std::vector<CampaignResults> loaded;
  std::vector<std::pair<int64_t, std::string>> named;
  for (const auto& c : campaigns) {
    FP_ASSIGN_OR_RETURN(auto campaign, load_campaign_results(store, c.campaign_id, 0));
    named.push_back({c.campaign_id, campaign.campaign.name});
    loaded.push_back(std::move(campaign));
  }
  const std::vector<std::string> folders = report_folder_names(named);
  for (size_t i = 0; i < loaded.size(); ++i) {
    const CampaignResults& campaign = loaded[i];
    const std::string sub = (fs::path(dir) / "campaigns" / folders[i]).string();
    FP_RETURN_IF_ERROR(stage_report(campaign, sub, w.files()));
  }
  FP_RETURN_IF_ERROR(put_report_in_place(dir, w.files()));
  return w.files().paths();
}

}  // namespace fp::report
