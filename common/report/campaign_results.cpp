#include "report/campaign_results.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "experiment/methods.h"

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
  std::vector<double> finish_times;
  for (const auto& t : tasks) {
    if (t.status == "pending") ++p.counts.pending;
    if (t.status == "assigned") ++p.counts.assigned;
    if (t.status == "done") ++p.counts.done;
    if (t.status == "failed") ++p.counts.failed;
    if (t.assigned_at > 0 && (started == 0 || t.assigned_at < started)) started = t.assigned_at;
    if ((t.status == "done" || t.status == "failed") && t.finished_at > 0)
      finish_times.push_back(t.finished_at);
  }
  int64_t total = p.counts.total();
  int64_t finished = p.counts.done + p.counts.failed;
  p.fraction = total ? static_cast<double>(finished) / static_cast<double>(total) : 0.0;
  if (campaign.status == "done" || (total > 0 && finished == total)) {
    p.eta_seconds = 0.0;
    return p;
  }
  // The pace of the latest finishes: the time from the finish before them to now over how
  // many they are, so a campaign resumed after a pause soon shows its pace again (the pace
  // since the first assignment counted the pause to the end), and a stalled one's ETA grows.
  // With few finishes yet, the pace since the first assignment.
  const auto recent = static_cast<size_t>(
      std::clamp<int64_t>(finished / 10, kEtaRecentFinishes, 10 * kEtaRecentFinishes));
  double since = started;
  double count = static_cast<double>(finished);
  if (finish_times.size() > recent) {
    auto before = finish_times.begin() + static_cast<std::ptrdiff_t>(recent);
    std::nth_element(finish_times.begin(), before, finish_times.end(), std::greater<double>());
    since = *before;
    count = static_cast<double>(recent);
  }
  if (finished > 0 && since > 0 && now > since)
    p.eta_seconds = (now - since) / count * static_cast<double>(total - finished);
  return p;
}

namespace detail {

// What a campaign's telemetry rows say about each individual, folded in row order.
struct TelemetryFold {
  int64_t last_row = 0;  // id of the last row folded
  int64_t rows = 0;      // how many were folded
  std::unordered_map<std::string, IndividualResult> by_individual;
  std::vector<std::string> first_seen;  // individuals in the order of their first row

  void add(const store::TelemetryRecord& row) {
    auto [it, is_new] = by_individual.try_emplace(row.individual);
    IndividualResult& r = it->second;
    if (is_new) {
      first_seen.push_back(row.individual);
      r.individual = row.individual;
      r.task_id = row.task_id;  // for an individual no task names
      r.agent_id = row.agent_id;
    }
    MethodOutcome m;
    m.accuracy = row.accuracy_after;
    m.sparsity = row.sparsity;
    m.target_sparsity = row.target_sparsity;
    m.macs_effective = row.macs_effective;
    m.compute_macs = row.compute_macs;
    m.compact_bytes = row.compact_bytes;
    m.wall_seconds = row.wall_seconds;
    // A later report for the same individual and method (a task re-run after its agent
    // was lost) replaces the earlier one.
    r.methods[row.method] = m;
    // One rule for the general model's accuracy everywhere (see the header).
    if (row.accuracy_before && (row.method == kFinePruneMethod || !r.general_accuracy)) {
      r.general_accuracy = row.accuracy_before;
    }
    if (!row.evaluated) r.evaluated = false;
    if (row.agreement) r.agreement = row.agreement;
    r.macs_dense = row.macs_dense;
    r.adaptation_samples = row.adaptation_samples;
    r.eval_samples = row.eval_samples;
    if (row.method == kFinePruneMethod) r.curve = parse_curve(row.curve_json);
    last_row = row.id;
    ++rows;
  }
};

}  // namespace detail

namespace {

using detail::TelemetryFold;

// Reads the rows stored after `fold.last_row`. A resumed fold first checks that the rows
// it already holds are all still there (a database replaced or repaired under the
// reader): if not, it starts over. Returns the rows read.
Result<int64_t> catch_up(store::Store& store, int64_t campaign_id, TelemetryFold& fold) {
  if (fold.rows > 0) {
    FP_ASSIGN_OR_RETURN(int64_t kept, store.telemetry_count(campaign_id, fold.last_row));
    if (kept != fold.rows) fold = TelemetryFold{};
  }
  FP_ASSIGN_OR_RETURN(auto rows, store.telemetry(campaign_id, fold.last_row));
  for (const auto& row : rows) fold.add(row);
  return static_cast<int64_t>(rows.size());
}

// The campaign's individuals in task order, each with what its telemetry says;
// individuals with rows but no task follow in the order of their first row.
Result<CampaignResults> assemble(store::Store& store, const store::CampaignRecord& campaign,
                                 const TelemetryFold& fold, double now) {
  CampaignResults out;
  out.campaign = campaign;
  FP_ASSIGN_OR_RETURN(auto tasks, store.tasks(campaign.id));
  out.progress = campaign_progress(campaign, tasks, now);
  // What a task says about its individual, over whatever else `r` holds.
  auto apply_task = [](IndividualResult& r, const store::TaskRecord& t) {
    r.individual = t.individual;
    r.task_status = t.status;
    r.agent_id = t.agent_id;
    r.task_id = t.id;
    r.attempts = t.attempts;
    r.error = t.error;
  };
  std::unordered_map<std::string, size_t> task_of;  // individual -> its last task
  out.individuals.resize(tasks.size());
  for (size_t k = 0; k < tasks.size(); ++k) {
    task_of[tasks[k].individual] = k;
    apply_task(out.individuals[k], tasks[k]);
  }
  for (const auto& name : fold.first_seen) {
    const IndividualResult& seen = fold.by_individual.at(name);
    auto it = task_of.find(name);
    if (it == task_of.end()) {
      out.individuals.push_back(seen);
      continue;
    }
    IndividualResult& r = out.individuals[it->second];
    r = seen;
    apply_task(r, tasks[it->second]);
  }
  return out;
}

}  // namespace

Result<CampaignResults> load_campaign_results(store::Store& store, int64_t id, double now) {
  FP_ASSIGN_OR_RETURN(auto campaign, store.campaign(id));
  if (!campaign) return Status::not_found("no campaign with id " + std::to_string(id));
  TelemetryFold fold;
  FP_RETURN_IF_ERROR(catch_up(store, id, fold).status());
  return assemble(store, *campaign, fold, now);
}

ResultsCache::ResultsCache(size_t max_campaigns) : max_campaigns_(max_campaigns) {}
ResultsCache::~ResultsCache() = default;

Result<CampaignResults> ResultsCache::load(store::Store& store, int64_t id, double now) {
  FP_ASSIGN_OR_RETURN(auto campaign, store.campaign(id));
  if (!campaign) {
    folds_.erase(id);
    return Status::not_found("no campaign with id " + std::to_string(id));
  }
  auto it = folds_.find(id);
  if (it == folds_.end()) {
    if (folds_.size() >= max_campaigns_) folds_.erase(folds_.begin());
    it = folds_.emplace(id, std::make_unique<TelemetryFold>()).first;
  }
  auto read = catch_up(store, id, *it->second);
  if (!read.ok()) {
    folds_.erase(it);  // half-read: start over next time
    return read.status();
  }
  rows_read_ += *read;
  return assemble(store, *campaign, *it->second, now);
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
  if (method == kGeneralMethod) return r.general_accuracy;
  auto it = r.methods.find(method);
  if (it == r.methods.end()) return std::nullopt;
  return it->second.accuracy;
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
