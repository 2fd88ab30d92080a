#include "report/campaign_results.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

namespace fp::report {
namespace {

std::vector<CurvePoint> parse_curve(const std::string& text) {
  std::vector<CurvePoint> out;
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_array()) return out;  // a damaged row shows no curve rather than failing the page
  for (const auto& p : json) {
    if (!p.is_object()) continue;
    CurvePoint c;
    c.target = p.value("target", 0.0);
    c.sparsity = p.value("sparsity", 0.0);
    c.accuracy = p.value("accuracy", 0.0);
    c.macs = p.value("macs", int64_t{0});
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(),
            [](const CurvePoint& a, const CurvePoint& b) { return a.target < b.target; });
  return out;
}

}  // namespace

CampaignProgress campaign_progress(const store::CampaignRecord& campaign,
                                   const std::vector<store::TaskRecord>& tasks, double now) {
  CampaignProgress p;
  double started = 0;
  for (const auto& t : tasks) {
    if (t.status == "pending") ++p.counts.pending;
    if (t.status == "assigned") ++p.counts.assigned;
    if (t.status == "done") ++p.counts.done;
    if (t.status == "failed") ++p.counts.failed;
    if (t.assigned_at > 0 && (started == 0 || t.assigned_at < started)) started = t.assigned_at;
  }
  int64_t total = p.counts.total();
  int64_t finished = p.counts.done + p.counts.failed;
  p.fraction = total ? static_cast<double>(finished) / static_cast<double>(total) : 0.0;
  if (campaign.status == "done" || (total > 0 && finished == total)) {
    p.eta_seconds = 0.0;
  } else if (finished > 0 && started > 0 && now > started) {
    // The pace since the first assignment, so a stalled campaign's ETA grows.
    double per_task = (now - started) / static_cast<double>(finished);
    p.eta_seconds = per_task * static_cast<double>(total - finished);
  }
  return p;
}

Result<CampaignResults> load_campaign_results(store::Store& store, int64_t id, double now) {
  FP_ASSIGN_OR_RETURN(auto campaign, store.campaign(id));
  if (!campaign) return Status::not_found("no campaign with id " + std::to_string(id));
  CampaignResults out;
  out.campaign = *campaign;
  FP_ASSIGN_OR_RETURN(auto tasks, store.tasks(id));
  out.progress = campaign_progress(*campaign, tasks, now);

  std::map<std::string, size_t> by_individual;
  for (const auto& t : tasks) {
    IndividualResult r;
    r.individual = t.individual;
    r.task_status = t.status;
    r.agent_id = t.agent_id;
    r.task_id = t.id;
    r.attempts = t.attempts;
    r.error = t.error;
    by_individual[t.individual] = out.individuals.size();
    out.individuals.push_back(std::move(r));
  }
  // Rows come in id order: a later report for the same individual and method
  // (a task re-run after its agent was lost) replaces the earlier one.
  FP_ASSIGN_OR_RETURN(auto rows, store.telemetry(id));
  for (const auto& row : rows) {
    auto it = by_individual.find(row.individual);
    if (it == by_individual.end()) {
      IndividualResult r;
      r.individual = row.individual;
      r.task_id = row.task_id;
      r.agent_id = row.agent_id;
      it = by_individual.emplace(row.individual, out.individuals.size()).first;
      out.individuals.push_back(std::move(r));
    }
    IndividualResult& r = out.individuals[it->second];
    MethodOutcome m;
    m.accuracy = row.accuracy_after;
    m.sparsity = row.sparsity;
    m.target_sparsity = row.target_sparsity;
    m.macs_effective = row.macs_effective;
    m.compute_macs = row.compute_macs;
    m.compact_bytes = row.compact_bytes;
    m.wall_seconds = row.wall_seconds;
    r.methods[row.method] = m;
    // One rule for the general model's accuracy everywhere (see the header).
    if (row.accuracy_before && (row.method == "fine_prune" || !r.general_accuracy)) {
      r.general_accuracy = row.accuracy_before;
    }
    if (!row.evaluated) r.evaluated = false;
    if (row.agreement) r.agreement = row.agreement;
    r.macs_dense = row.macs_dense;
    r.adaptation_samples = row.adaptation_samples;
    r.eval_samples = row.eval_samples;
    if (row.method == "fine_prune") r.curve = parse_curve(row.curve_json);
  }
  return out;
}

Result<CampaignResults> load_campaign_results(store::Store& store, const std::string& name,
                                              double now) {
  FP_ASSIGN_OR_RETURN(auto campaign, store.find_campaign(name));
  if (!campaign) return Status::not_found("no campaign named '" + name + "'");
  return load_campaign_results(store, campaign->id, now);
}

const MethodOutcome* IndividualResult::method(const std::string& name) const {
  auto it = methods.find(name);
  return it == methods.end() ? nullptr : &it->second;
}

std::optional<double> accuracy_of(const IndividualResult& r, const std::string& method) {
  if (method == "general") return r.general_accuracy;
  auto it = r.methods.find(method);
  if (it == r.methods.end()) return std::nullopt;
  return it->second.accuracy;
}

std::optional<double> mean_accuracy(const CampaignResults& results, const std::string& method) {
  double sum = 0;
  int n = 0;
  for (const auto& r : results.individuals) {
    if (auto a = accuracy_of(r, method)) {
      sum += *a;
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::vector<MeanCurvePoint> mean_curve(const CampaignResults& results) {
  std::map<double, MeanCurvePoint> by_target;
  for (const auto& r : results.individuals) {
    for (const auto& p : r.curve) {
      MeanCurvePoint& m = by_target[p.target];
      m.target = p.target;
      m.sparsity += p.sparsity;
      m.accuracy += p.accuracy;
      ++m.count;
    }
  }
  std::vector<MeanCurvePoint> out;
  for (auto& [target, m] : by_target) {
    m.sparsity /= m.count;
    m.accuracy /= m.count;
    out.push_back(m);
  }
  return out;
}

}  // namespace fp::report
