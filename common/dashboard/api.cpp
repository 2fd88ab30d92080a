#include "dashboard/api.h"

#include <cctype>

namespace fp::dash {
namespace {

using nlohmann::json;

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json error(const std::string& message) { return {{"error", message}}; }

ApiReply from_status(const Status& s) {
  return {s.code() == Status::Code::kNotFound ? 404 : 500, error(s.to_string())};
}

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

Result<json> agents_json(store::Store& store, const std::vector<store::TaskRecord>& tasks) {
  FP_ASSIGN_OR_RETURN(auto agents, store.agents());
  json out = json::array();
  auto by_agent = tasks_by_agent(tasks);
  for (const auto& a : agents) {
    const AgentTasks& mine = by_agent[a.agent_id];
    json current = nullptr;
    if (mine.current) {
      current = {{"task_id", mine.current->id},
                 {"campaign_id", mine.current->campaign_id},
                 {"individual", mine.current->individual}};
    }
    out.push_back({{"agent_id", a.agent_id},
                   {"state", agent_state(a, mine)},
                   {"status", a.status},
                   {"first_seen", a.first_seen},
                   {"last_seen", a.last_seen},
                   {"threads", a.threads},
                   {"memory_mb", a.memory_mb},
                   {"datasets", parsed_or_text(a.datasets_json)},
                   {"task", current},
                   {"tasks_done", mine.done},
                   {"tasks_failed", mine.failed}});
  }
  return out;
}

Result<json> summary(store::Store& store, double now) {
  FP_ASSIGN_OR_RETURN(auto tasks, store.tasks(0));
  FP_ASSIGN_OR_RETURN(json agents, agents_json(store, tasks));
  json by_state = {{"total", agents.size()},
                   {"connected", 0},
                   {"working", 0},
                   {"idle", 0},
                   {"done", 0},
                   {"failed", 0},
                   {"offline", 0}};
  for (const auto& a : agents) {
    std::string state = a["state"];
    by_state[state] = by_state[state].get<int64_t>() + 1;
    if (state == "working" || state == "idle") {
      by_state["connected"] = by_state["connected"].get<int64_t>() + 1;
    }
  }
  FP_ASSIGN_OR_RETURN(auto campaigns, store.campaigns());
  int64_t running = 0;
  for (const auto& c : campaigns) running += c.status == "running";
  CampaignProgress all = campaign_progress(store::CampaignRecord{}, tasks, now);
  FP_ASSIGN_OR_RETURN(int64_t rows, store.telemetry_count());
  FP_ASSIGN_OR_RETURN(auto events, store.events(20));
  json recent = json::array();
  for (const auto& e : events) {
    recent.push_back({{"at", e.at},
                      {"kind", e.kind},
                      {"agent_id", e.agent_id},
                      {"task_id", e.task_id},
                      {"detail", e.detail}});
  }
  return json{{"now", now},
              {"agents", by_state},
              {"campaigns",
               {{"total", campaigns.size()},
                {"running", running},
                {"done", static_cast<int64_t>(campaigns.size()) - running}}},
              {"tasks", counts_json(all.counts)},
              {"telemetry_rows", rows},
              {"events", recent}};
}

Result<json> campaigns_json(store::Store& store, double now) {
  FP_ASSIGN_OR_RETURN(auto campaigns, store.campaigns());
  json out = json::array();
  for (const auto& c : campaigns) {
    FP_ASSIGN_OR_RETURN(auto tasks, store.tasks(c.id));
    out.push_back(campaign_summary_json(c, campaign_progress(c, tasks, now)));
  }
  return json{{"campaigns", out}};
}

// "12" -> 12; anything else (sign, letters, zero, too long) -> nothing.
std::optional<int64_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t id = std::stoll(s);
  if (id <= 0) return std::nullopt;
  return id;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (parts.size() > 1 && parts.back().empty()) parts.pop_back();  // one trailing '/'
  return parts;
}

}  // namespace

std::map<std::string, AgentTasks> tasks_by_agent(const std::vector<store::TaskRecord>& tasks) {
  std::map<std::string, AgentTasks> out;
  for (const auto& t : tasks) {
    if (t.agent_id.empty()) continue;
    AgentTasks& a = out[t.agent_id];
    if (t.status == "done") ++a.done;
    if (t.status == "failed") ++a.failed;
    if (t.status == "assigned") a.current = &t;
  }
  return out;
}

std::string agent_state(const store::AgentRecord& agent, const AgentTasks& tasks) {
  if (agent.status == "online") return tasks.current ? "working" : "idle";
  if (tasks.done) return "done";
  if (tasks.failed) return "failed";
  return "offline";
}

json campaign_detail_json(const CampaignResults& r) {
  json out = campaign_summary_json(r.campaign, r.progress);
  out["prune_config"] = parsed_or_text(r.campaign.prune_config_json);
  out["baselines"] = parsed_or_text(r.campaign.baselines_json);
  out["sweep_targets"] = parsed_or_text(r.campaign.sweep_targets_json);
  json individuals = json::array();
  for (const auto& i : r.individuals) {
    json methods = json::object();
    for (const auto& [name, m] : i.methods) {
      methods[name] = {{"accuracy", optional_json(m.accuracy)}, {"sparsity", m.sparsity},
                       {"target_sparsity", m.target_sparsity},  {"macs", m.macs_effective},
                       {"wall_seconds", m.wall_seconds},        {"compute_macs", m.compute_macs}};
    }
    json row = {{"individual", i.individual},
                {"task_id", i.task_id},
                {"task_status", i.task_status},
                {"agent_id", i.agent_id},
                {"attempts", i.attempts},
                {"error", i.error},
                {"general", optional_json(i.general_accuracy)},
                {"macs_dense", i.macs_dense},
                {"adaptation_samples", i.adaptation_samples},
                {"eval_samples", i.eval_samples},
                {"evaluated", i.evaluated},
                {"agreement", optional_json(i.agreement)},
                {"methods", methods}};
    // Flat copies of the numbers the tables and the bar chart show.
    for (const auto& method : result_methods()) row[method] = optional_json(accuracy_of(i, method));
    auto fp = i.methods.find("fine_prune");
    row["sparsity"] = fp == i.methods.end() ? json(nullptr) : json(fp->second.sparsity);
    individuals.push_back(std::move(row));
  }
  out["individuals"] = individuals;
  json mean = json::object();
  mean["general"] = optional_json(mean_accuracy(r, "general"));
  for (const auto& method : result_methods())
    mean[method] = optional_json(mean_accuracy(r, method));
  out["mean"] = mean;
  return out;
}

json campaign_curve_json(const CampaignResults& r) {
  json individuals = json::array();
  for (const auto& i : r.individuals) {
    if (i.curve.empty()) continue;
    json points = json::array();
    for (const auto& p : i.curve) {
      points.push_back({{"target", p.target},
                        {"sparsity", p.sparsity},
                        {"accuracy", p.accuracy},
                        {"macs", p.macs}});
    }
    json chosen = nullptr;
    auto fp = i.methods.find("fine_prune");
    if (fp != i.methods.end() && fp->second.accuracy) {
      chosen = {{"sparsity", fp->second.sparsity}, {"accuracy", *fp->second.accuracy}};
    }
    individuals.push_back({{"individual", i.individual},
                           {"general", optional_json(i.general_accuracy)},
                           {"chosen", chosen},
                           {"points", points}});
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
          {"mean", mean}};
}

ApiReply handle_api(store::Store& store, const std::string& path, double now) {
  std::vector<std::string> parts = split_path(path);  // {"api", ...}
  auto result = [](Result<json> r) -> ApiReply {
    if (!r.ok()) return from_status(r.status());
    return {200, std::move(r).value()};
  };
  if (parts.size() == 2 && parts[1] == "summary") return result(summary(store, now));
  if (parts.size() == 2 && parts[1] == "agents") {
    auto tasks = store.tasks(0);
    if (!tasks.ok()) return from_status(tasks.status());
    auto agents = agents_json(store, *tasks);
    if (!agents.ok()) return from_status(agents.status());
    return {200, json{{"agents", *agents}}};
  }
  if (parts.size() == 2 && parts[1] == "campaigns") return result(campaigns_json(store, now));
  bool curve = parts.size() == 4 && parts[3] == "curve";
  if (parts.size() >= 3 && parts[1] == "campaigns" && (parts.size() == 3 || curve)) {
    auto id = parse_id(parts[2]);
    if (!id) return {400, error("campaign id must be a positive integer, not '" + parts[2] + "'")};
    auto results = load_campaign_results(store, *id, now);
    if (!results.ok()) return from_status(results.status());
    return {200, curve ? campaign_curve_json(*results) : campaign_detail_json(*results)};
  }
  return {404, error("not found: no API endpoint " + path)};
}

}  // namespace fp::dash
