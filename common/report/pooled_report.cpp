#include "report/pooled_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "experiment/methods.h"
#include "report/report_table.h"
#include "report/run_results.h"
#include "store/run_store.h"
#include "util/clock.h"
#include "util/file_io.h"
#include "util/folder_lock.h"

namespace fp::report {
namespace {

// One pooled individual: the seed it belongs to and its results.
struct Row {
  const std::string* seed;
  const std::string* variant;
  const IndividualResult* result;
};

std::vector<Row> rows_of(const std::vector<SeedRun>& seeds) {
  std::vector<Row> rows;
  for (const auto& seed : seeds) {
    for (const auto& [variant, campaign] : seed.campaigns) {
      for (const auto& ind : campaign.individuals) {
        if (ind.general_accuracy) rows.push_back({&seed.label, &variant, &ind});
      }
    }
  }
  return rows;
}

// "general", the named methods the rows report, then the others alphabetically.
std::vector<std::string> method_names(const std::vector<const Row*>& rows) {
  std::set<std::string> seen;
  for (const Row* r : rows)
    for (const auto& [name, outcome] : r->result->methods) seen.insert(name);
  std::vector<std::string> names = {kGeneralMethod};
  for (const auto& m : result_methods())
    if (seen.erase(m)) names.push_back(m);
  names.insert(names.end(), seen.begin(), seen.end());
  return names;
}

// Collects the pairs (a, b) of one comparison with the seed and details of each.
struct Pairs {
  std::vector<double> a, b;
  std::vector<const std::string*> seeds;
  int64_t min_eval = 0;  // smallest evaluation set: one sample's worth is the resolution
  void add(double va, double vb, const Row& r) {
    a.push_back(va);
    b.push_back(vb);
    seeds.push_back(r.seed);
    const int64_t e = r.result->eval_samples;
    if (e > 0) min_eval = min_eval ? std::min(min_eval, e) : e;
  }
  PooledComparison summarize(const std::vector<SeedRun>& all) const {
    stats::PairedOptions o;
    o.resolution = min_eval > 0 ? 1.0 / static_cast<double>(min_eval) : 0.0;
    PooledComparison c;
    c.paired = stats::summarize_paired(a, b, o);
    for (const auto& seed : all) {
      double sum = 0;
      int64_t n = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        if (*seeds[i] != seed.label) continue;
        sum += b[i] - a[i];
        ++n;
      }
      if (n) c.per_seed.emplace_back(seed.label, sum / static_cast<double>(n));
    }
    return c;
  }
};

double mac_reduction(const IndividualResult& r, const MethodOutcome& m) {
  return r.macs_dense > 0
             ? 1.0 - static_cast<double>(m.macs_effective) / static_cast<double>(r.macs_dense)
             : 0.0;
}

// Method b's cost over the paired individuals, summed, then set on a comparison as means.
struct CostSums {
  double compute = 0, seconds = 0, cut = 0, sparsity = 0;
  void add(const IndividualResult& r, const char* method) {
    const MethodOutcome* m = r.method(method);
    if (!m) return;
    compute += static_cast<double>(m->compute_macs);
    seconds += m->wall_seconds;
    cut += mac_reduction(r, *m);
    sparsity += m->sparsity;
  }
  void set_means(PooledComparison& c, size_t paired) const {
    const double n = static_cast<double>(paired);
    c.compute_gmac = compute / n / 1e9;
    c.seconds = seconds / n;
    c.mac_reduction = cut / n;
    c.sparsity = sparsity / n;
  }
};

std::vector<PooledComparison> variant_comparisons(const std::vector<SeedRun>& seeds,
                                                  const std::vector<const Row*>& rows,
                                                  const std::string& variant) {
  std::vector<std::pair<std::string, std::string>> pairs;  // (b, a)
  for (const auto& m : method_names(rows))
    if (m != kGeneralMethod) pairs.emplace_back(m, kGeneralMethod);
  for (const auto& m : method_names(rows))
    if (m != kGeneralMethod && m != kFinePruneMethod) pairs.emplace_back(kFinePruneMethod, m);
  std::vector<PooledComparison> out;
  for (const auto& [b_name, a_name] : pairs) {
    Pairs p;
    CostSums cost;
    for (const Row* r : rows) {
      auto va = accuracy_of(*r->result, a_name), vb = accuracy_of(*r->result, b_name);
      if (!va || !vb) continue;
      p.add(*va, *vb, *r);
      cost.add(*r->result, b_name.c_str());
    }
    if (p.a.empty()) continue;
    PooledComparison c = p.summarize(seeds);
    c.variant = variant;
    c.method = b_name;
    c.versus = a_name;
    cost.set_means(c, p.a.size());
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

std::vector<std::string> result_settings(const std::vector<std::string>& overrides) {
  std::vector<std::string> out;
  for (const auto& o : overrides)
    if (o.rfind("partition.", 0) == 0 || o.rfind("baselines.", 0) == 0) out.push_back(o);
  return out;
}

Result<SeedRun> load_seed_run(store::Store& store, int64_t run_id) {
  FP_ASSIGN_OR_RETURN(store::RunStore runs, store::RunStore::open_to_read(store));
  FP_ASSIGN_OR_RETURN(store::RunRecord run, runs.run(run_id));
  FP_ASSIGN_OR_RETURN(std::vector<store::RunCampaign> campaigns, runs.campaigns(run.id));
  std::sort(campaigns.begin(), campaigns.end(),
            [](const auto& x, const auto& y) { return x.campaign_id < y.campaign_id; });
  SeedRun seed;
  seed.label = std::to_string(run.seed);
  seed.scenario = run.scenario;
  seed.status = run.status;
  const auto stats = nlohmann::json::parse(run.stats_json, nullptr, false);
  std::vector<std::string> overrides;
  if (stats.is_object() && stats.contains("overrides") && stats["overrides"].is_array())
    for (const auto& o : stats["overrides"])
      if (o.is_string()) overrides.push_back(o.get<std::string>());
  seed.settings = result_settings(overrides);
  for (const auto& c : campaigns) {
    FP_ASSIGN_OR_RETURN(CampaignResults results,
                        load_campaign_results(store, c.campaign_id, unix_now()));
    seed.campaigns.emplace_back(c.variant.empty() ? "(default)" : c.variant, std::move(results));
  }
  return seed;
}

std::vector<PooledComparison> pool_comparisons(const std::vector<SeedRun>& seeds,
                                               const std::string& versus_variant) {
  const std::vector<Row> rows = rows_of(seeds);
  std::vector<std::string> variants;
  for (const Row& r : rows)
    if (std::find(variants.begin(), variants.end(), *r.variant) == variants.end())
      variants.push_back(*r.variant);
  std::vector<PooledComparison> out;
  for (const auto& v : variants) {
    std::vector<const Row*> of_variant;
    for (const Row& r : rows)
      if (*r.variant == v) of_variant.push_back(&r);
    auto some = variant_comparisons(seeds, of_variant, v);
    out.insert(out.end(), some.begin(), some.end());
  }
  if (versus_variant.empty()) return out;
  // Each other variant's Fine-Pruning against the reference's, paired by seed and individual.
  for (const auto& v : variants) {
    if (v == versus_variant) continue;
    Pairs p;
    CostSums cost;  // of this variant's Fine-Pruning (it read 0 throughout)
    for (const auto& seed : seeds) {
      std::map<std::string, const IndividualResult*> reference;
      for (const Row& r : rows)
        if (r.seed == &seed.label && *r.variant == versus_variant)
          reference[r.result->individual] = r.result;
      for (const Row& r : rows) {
        if (r.seed != &seed.label || *r.variant != v) continue;
        auto ref = reference.find(r.result->individual);
        if (ref == reference.end()) continue;
        auto va = accuracy_of(*ref->second, kFinePruneMethod),
             vb = accuracy_of(*r.result, kFinePruneMethod);
        if (!va || !vb) continue;
        p.add(*va, *vb, r);
        cost.add(*r.result, kFinePruneMethod);
      }
    }
    if (p.a.empty()) continue;
    PooledComparison c = p.summarize(seeds);
    c.variant = v;
    c.method = kFinePruneMethod;
    c.versus = versus_variant + " fine_prune";
    cost.set_means(c, p.a.size());
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

std::string per_seed_text(const PooledComparison& c) {
  std::string s;
  for (const auto& [label, diff] : c.per_seed)
    s += fmt::format("{}{}:{:+.1f}", s.empty() ? "" : " ", label, 100 * diff);
  return s;
}

ReportTable pooled_table(const std::vector<PooledComparison>& rows) {
  ReportTable t;
  t.header = {"variant",    "method",
              "versus",     "n",
              "mean_a",     "mean_b",
              "mean_diff",  "median_diff",
              "ci_low",     "ci_high",
              "p_wilcoxon", "improved",
              "worse",      "b_compute_GMAC",
              "b_seconds",  "b_mac_reduction",
              "b_sparsity", "per_seed_mean_diff"};
  const auto full = [](double v) { return fmt::format("{:.17g}", v); };  // full precision
  const auto pts = [](double v) { return fmt::format("{:+.1f}", 100 * v); };
  for (const auto& c : rows) {
    const auto& p = c.paired;
    t.csv_rows.push_back({c.variant, c.method, c.versus, std::to_string(p.n), full(p.mean_a),
                          full(p.mean_b), full(p.mean_diff), full(p.median_diff), full(p.ci.low),
                          full(p.ci.high), full(p.wilcoxon.p_value), std::to_string(p.improved),
                          std::to_string(p.worse), full(c.compute_gmac), full(c.seconds),
                          full(c.mac_reduction), full(c.sparsity), per_seed_text(c)});
    t.md_rows.push_back(
        {c.variant, c.method, c.versus, std::to_string(p.n), fmt::format("{:.1f}", 100 * p.mean_a),
         fmt::format("{:.1f}", 100 * p.mean_b), pts(p.mean_diff), pts(p.median_diff),
         interval_text(p.n, p.ci.low, p.ci.high, 100), fmt::format("{:.2g}", p.wilcoxon.p_value),
         std::to_string(p.improved), std::to_string(p.worse), fmt::format("{:.3g}", c.compute_gmac),
         fmt::format("{:.2f}", c.seconds), fmt::format("{:.1f}%", 100 * c.mac_reduction),
         fmt::format("{:.1f}%", 100 * c.sparsity), per_seed_text(c)});
  }
  return t;
}

}  // namespace

std::string pooled_csv(const std::vector<PooledComparison>& rows) {
  return pooled_table(rows).csv();
}

std::string pooled_markdown(const std::vector<PooledComparison>& rows,
                            const std::vector<std::string>& sources) {
  std::string joined;
  for (const auto& s : sources) joined += (joined.empty() ? "" : ", ") + s;
  ReportTable t = pooled_table(rows);
  // Readable column names where the CSV's are terse; one cell for the interval.
  t.merge_interval_columns(8);
  t.md_header[14] = "b_MAC_cut";
  t.md_header[16] = "per_seed";
  return fmt::format(
             "Pooled over: {} (fp-sim pool, from each run's SQLite file or report's "
             "seed_run.json;\nstatistics as in "
             "docs/PROTOCOL.md section 6). Accuracies in %, differences in points; per_seed: "
             "each seed's mean difference.\n\n",
             joined) +
         t.markdown(/*text_columns=*/3);
}

Result<std::string> write_pooled_comparisons(const std::string& dir,
                                             const std::vector<PooledComparison>& rows,
                                             const std::vector<std::string>& sources) {
  FP_RETURN_IF_ERROR(make_output_folder(dir, "--out"));
  StagedFiles files("pooled comparisons");
  const std::filesystem::path out(dir);
  std::string markdown = pooled_markdown(rows, sources);
  FP_RETURN_IF_ERROR(files.add((out / "pooled_comparisons.csv").string(), pooled_csv(rows)));
  FP_RETURN_IF_ERROR(files.add((out / "pooled_comparisons.md").string(), markdown));
  const FolderLock one_writer(dir);
  FP_RETURN_IF_ERROR(files.commit());
  return markdown;
}

}  // namespace fp::report
