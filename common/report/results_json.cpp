#include "report/results_json.h"

#include "experiment/methods.h"
#include "report/method_summary.h"

namespace fp::report {

using nlohmann::json;

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json counts_json(const store::TaskCounts& c) {
  return {{"pending", c.pending},
          {"assigned", c.assigned},
          {"done", c.done},
          {"failed", c.failed},
          {"total", c.total()}};
}

json campaign_summary_json(const store::CampaignRecord& c, const CampaignProgress& p) {
  return {{"id", c.id},
          {"name", c.name},
          {"status", c.status},
          {"dataset", c.dataset},
          {"model_sha256", c.model_sha256},
          {"created_at", c.created_at},
          {"open_enrollment", c.open_enrollment},
          {"tasks", counts_json(p.counts)},
          {"progress", p.fraction},
          {"eta_seconds", optional_json(p.eta_seconds)}};
}

json parsed_or_text(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

json individual_json(const IndividualResult& i) {
  json methods = json::object();
  for (const auto& [name, m] : i.methods) {
    methods[name] = {{"accuracy", optional_json(m.accuracy)}, {"sparsity", m.sparsity},
                     {"target_sparsity", m.target_sparsity},  {"macs", m.macs_effective},
                     {"wall_seconds", m.wall_seconds},        {"compute_macs", m.compute_macs},
                     {"compact_bytes", m.compact_bytes}};
    // MACs per sample saved against the dense model, on the compact model (prune/cost.h).
    methods[name]["mac_reduction"] =
        i.macs_dense > 0 ? 1.0 - static_cast<double>(m.macs_effective) / i.macs_dense : 0.0;
  }
  json row = {{"individual", i.individual},
              {"task_id", i.task_id},
              {"task_status", i.task_status},
              {"agent_id", i.agent_id},
              {"attempts", i.attempts},
              {"error", i.error},
              {kGeneralMethod, optional_json(i.general_accuracy)},
              {"macs_dense", i.macs_dense},
              {"adaptation_samples", i.adaptation_samples},
              {"eval_samples", i.eval_samples},
              {"evaluated", i.labeled() ? json(*i.labeled()) : json(nullptr)},
              {"agreement", optional_json(i.agreement)},
              {"methods", methods}};
  // Flat copies of the numbers the tables and the bar chart show.
  for (const auto& method : result_methods()) row[method] = optional_json(accuracy_of(i, method));
  auto fp = i.methods.find(kFinePruneMethod);
  row["sparsity"] = fp == i.methods.end() ? json(nullptr) : json(fp->second.sparsity);
  row["gain"] = optional_json(fine_prune_gain(i));
  return row;
}

json campaign_overview_json(const CampaignResults& r, const std::vector<MethodSummary>& summary,
                            const BootstrapOptions& options) {
  json out = campaign_summary_json(r.campaign, r.progress);
  out["prune_config"] = parsed_or_text(r.campaign.prune_config_json);
  out["baselines"] = parsed_or_text(r.campaign.baselines_json);
  out["sweep_targets"] = parsed_or_text(r.campaign.sweep_targets_json);
  json mean = json::object();
  for (const auto& s : summary) {
    if (s.method != "gain") mean[s.method] = optional_json(s.stats.mean);
  }
  out["mean"] = mean;
  out["methods_summary"] = methods_summary_json(summary, options);
  return out;
}

json campaign_detail_json(const CampaignResults& r) {
  const BootstrapOptions options;
  json out = campaign_overview_json(r, summarize_methods(r, options), options);
  json individuals = json::array();
  for (const auto& i : r.individuals) individuals.push_back(individual_json(i));
  out["individuals"] = std::move(individuals);
  return out;
}

json methods_summary_json(const std::vector<MethodSummary>& summary,
                          const BootstrapOptions& options) {
  json methods = json::object();
  for (const auto& s : summary) {
    methods[s.method] = {{"n", s.stats.n},
                         {"mean", optional_json(s.stats.mean)},
                         {"ci_low", optional_json(s.stats.ci_low)},
                         {"ci_high", optional_json(s.stats.ci_high)}};
  }
  methods["interval"] = {{"kind", "percentile bootstrap over individuals"},
                         {"confidence", options.confidence},
                         {"resamples", options.resamples},
                         {"seed", options.seed}};
  return methods;
}

namespace {

json individual_curve_json(const IndividualResult& i) {
  json points = json::array();
  for (const auto& p : i.curve) {
    points.push_back({{"target", p.target},
                      {"sparsity", p.sparsity},
                      {"accuracy", p.accuracy},
                      {"macs", p.macs}});
  }
  json chosen = nullptr;
  auto fp = i.methods.find(kFinePruneMethod);
  if (fp != i.methods.end() && fp->second.accuracy) {
    chosen = {{"sparsity", fp->second.sparsity}, {"accuracy", *fp->second.accuracy}};
  }
  return {{"individual", i.individual},
          {kGeneralMethod, optional_json(i.general_accuracy)},
          {"chosen", chosen},
          {"points", points}};
}

}  // namespace

json campaign_curve_json(const CampaignResults& r, size_t offset, size_t limit) {
  json individuals = json::array();
  size_t swept = 0, generals = 0;
  double general_sum = 0;
  for (const auto& i : r.individuals) {
    if (i.curve.empty()) continue;
    if (swept >= offset && swept - offset < limit) individuals.push_back(individual_curve_json(i));
    ++swept;
    if (i.general_accuracy) {
      general_sum += *i.general_accuracy;
      ++generals;
    }
  }
  json mean = json::array();
  for (const auto& m : mean_curve(r)) {
    mean.push_back({{"target", m.target},
                    {"sparsity", m.sparsity},
                    {"accuracy", m.accuracy},
                    {"count", m.count}});
  }
  return {{"campaign_id", r.campaign.id},
          {"name", r.campaign.name},
          {"individuals", individuals},
          {"swept", swept},
          {"mean", mean},
          {"mean_general",
           generals ? json(general_sum / static_cast<double>(generals)) : json(nullptr)}};
}

json campaign_distribution_json(const CampaignResults& r) {
  json names = json::array(), general = json::array(), personalized = json::array(),
       gains = json::array();
  for (const auto& i : r.individuals) {
    auto gain = fine_prune_gain(i);
    if (!gain) continue;  // then both accuracies exist
    names.push_back(i.individual);
    general.push_back(*i.general_accuracy);
    personalized.push_back(*accuracy_of(i, kFinePruneMethod));
    gains.push_back(*gain);
  }
  return {{"campaign_id", r.campaign.id},
          {"individual", names},
          {kGeneralMethod, general},
          {kFinePruneMethod, personalized},
          {"gain", gains}};
}

}  // namespace fp::report
