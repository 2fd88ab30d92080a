#include "dashboard/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "dashboard/metrics.h"
#include "dashboard/paging.h"
#include "dashboard/query.h"
#include "report/results_json.h"
#include "util/text.h"

namespace fp::dash {
namespace {

using nlohmann::json;
using report::campaign_curve_json;
using report::campaign_distribution_json;
using report::campaign_overview_json;
using report::campaign_progress;
using report::campaign_summary_json;
using report::CampaignProgress;
using report::CampaignResults;
using report::counts_json;
using report::fine_prune_gain;
using report::individual_json;
using report::IndividualResult;
using report::optional_json;
using report::parsed_or_text;

json error(const std::string& message) { return {{"error", message}}; }

// An agent with what it did and the state the dashboard shows.
struct AgentRow {
  const store::AgentRecord* agent;
  AgentTasks tasks;
  std::string state;
};

std::vector<AgentRow> agent_rows(const std::vector<store::AgentRecord>& agents,
                                 const std::vector<store::TaskRecord>& tasks) {
  auto by_agent = tasks_by_agent(tasks);
  std::vector<AgentRow> out;
  out.reserve(agents.size());
  for (const auto& a : agents) {
    const AgentTasks& mine = by_agent[a.agent_id];
    out.push_back({&a, mine, agent_state(a, mine)});
  }
  return out;
}

json agent_json(const AgentRow& row) {
  const store::AgentRecord& a = *row.agent;
  json current = nullptr;
  if (row.tasks.current) {
    current = {{"task_id", row.tasks.current->id},
               {"campaign_id", row.tasks.current->campaign_id},
               {"individual", row.tasks.current->individual}};
  }
  return {{"agent_id", a.agent_id},
          {"state", row.state},
          {"status", a.status},
          {"first_seen", a.first_seen},
          {"last_seen", a.last_seen},
          {"threads", a.threads},
          {"memory_mb", a.memory_mb},
          {"datasets", parsed_or_text(a.datasets_json)},
          {"task", current},
          {"tasks_done", row.tasks.done},
          {"tasks_failed", row.tasks.failed}};
}

// Busy and broken agents first, so a large fleet's first page shows what matters.
int state_rank(const std::string& state) {
  static const std::vector<std::string> order = {"working", "failed", "idle", "done", "offline"};
  return static_cast<int>(std::find(order.begin(), order.end(), state) - order.begin());
}

Result<json> agents_page(store::Store& store, const Query& query) {
  FP_ASSIGN_OR_RETURN(Page page, page_of(query));
  FP_ASSIGN_OR_RETURN(std::string sort, query.choice("sort", "id", {"id", "state"}));
  const std::string text = ascii_lower(query.get("q").value_or(""));
  FP_ASSIGN_OR_RETURN(auto tasks, store.tasks(0));
  FP_ASSIGN_OR_RETURN(auto agents, store.agents());
  std::vector<AgentRow> matched;
  for (auto& row : agent_rows(agents, tasks)) {
    if (contains_text({&row.agent->agent_id, &row.state}, text)) matched.push_back(row);
  }
  std::stable_sort(matched.begin(), matched.end(), [&](const AgentRow& a, const AgentRow& b) {
    if (sort == "state" && state_rank(a.state) != state_rank(b.state)) {
      return state_rank(a.state) < state_rank(b.state);
    }
    return a.agent->agent_id < b.agent->agent_id;
  });
  json out = json::array();
  json p = emit_page(matched, agents.size(), page,
                     [&](const AgentRow& row) { out.push_back(agent_json(row)); });
  return json{{"agents", out}, {"page", p}};
}

Result<json> summary(store::Store& store, double now) {
  FP_ASSIGN_OR_RETURN(auto tasks, store.tasks(0));
  FP_ASSIGN_OR_RETURN(auto agents, store.agents());
  json by_state = {{"total", agents.size()},
                   {"connected", 0},
                   {"working", 0},
                   {"idle", 0},
                   {"done", 0},
                   {"failed", 0},
                   {"offline", 0}};
  for (const auto& row : agent_rows(agents, tasks)) {
    by_state[row.state] = by_state[row.state].get<int64_t>() + 1;
    if (row.state == "working" || row.state == "idle") {
      by_state["connected"] = by_state["connected"].get<int64_t>() + 1;
    }
  }
  FP_ASSIGN_OR_RETURN(auto campaigns, store.campaigns());
  int64_t running = 0, superseded = 0;  // the rest are done
  for (const auto& c : campaigns) {
    running += c.status == "running";
    superseded += c.status == store::kCampaignSuperseded;
  }
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
                {"superseded", superseded},
                {"done", static_cast<int64_t>(campaigns.size()) - running - superseded}}},
              {"tasks", counts_json(all.counts)},
              {"telemetry_rows", rows},
              {"events", recent}};
}

// The individuals a detail page lists, in its order.
Result<std::vector<const IndividualResult*>> select_individuals(const CampaignResults& r,
                                                                const Query& query) {
  FP_ASSIGN_OR_RETURN(std::string sort,
                      query.choice("sort", "task", {"task", "-task", "gain", "-gain"}));
  FP_ASSIGN_OR_RETURN(
      std::string status,
      query.choice("status", "", {"pending", "assigned", "done", "failed", "started"}));
  const std::string text = ascii_lower(query.get("q").value_or(""));
  std::vector<const IndividualResult*> rows;
  for (const auto& i : r.individuals) {
    if (status == "started" ? i.task_status == "pending"
                            : !status.empty() && i.task_status != status) {
      continue;
    }
    if (contains_text({&i.individual, &i.agent_id, &i.task_status}, text)) rows.push_back(&i);
  }
  if (sort == "-task") std::reverse(rows.begin(), rows.end());
  if (sort == "gain" || sort == "-gain") {
    // Rows without a gain go last, in task order (a stable sort).
    std::stable_sort(rows.begin(), rows.end(),
                     [&](const IndividualResult* a, const IndividualResult* b) {
                       auto ga = fine_prune_gain(*a), gb = fine_prune_gain(*b);
                       if (!ga || !gb) return ga.has_value() && !gb.has_value();
                       return sort == "gain" ? *ga < *gb : *ga > *gb;
                     });
  }
  return rows;
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

ApiReply reply_for(const Status& s) {
  switch (s.code()) {
    case Status::Code::kNotFound:
      return {404, error(s.to_string())};
    case Status::Code::kInvalidArgument:
      return {400, error(s.message())};  // the request's fault
    default:
      // The database's own words (its SQL, its path) go to the log, not to whoever asked.
      spdlog::error("dashboard: {}", s.to_string());
      return {500, error("internal error: the dashboard could not read the database (the "
                         "dashboard's log says why)")};
  }
}

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

// What a path asks for, and the query parameters that endpoint takes.
struct Endpoint {
  enum Kind { kNone, kSummary, kAgents, kCampaigns, kDetail, kCurve, kDistribution } kind = kNone;
  std::string id;  // the campaign id as written, for kDetail, kCurve, kDistribution
  std::vector<std::string> parameters;
};

Endpoint endpoint_of(const std::vector<std::string>& parts) {  // parts: {"api", ...}
  if (parts.size() == 2 && parts[1] == "summary") return {Endpoint::kSummary, "", {}};
  if (parts.size() == 2 && parts[1] == "agents") {
    return {Endpoint::kAgents, "", {"offset", "limit", "q", "sort"}};
  }
  if (parts.size() == 2 && parts[1] == "campaigns") return {Endpoint::kCampaigns, "", {}};
  if (parts.size() < 3 || parts.size() > 4 || parts[1] != "campaigns") return {};
  if (parts.size() == 3) {
    return {Endpoint::kDetail, parts[2], {"offset", "limit", "q", "sort", "status"}};
  }
  if (parts[3] == "curve") return {Endpoint::kCurve, parts[2], {"offset", "limit"}};
  if (parts[3] == "distribution") return {Endpoint::kDistribution, parts[2], {}};
  return {};
}

Result<std::string> Api::metrics(double now) {
  FP_ASSIGN_OR_RETURN(json totals, summary(store_, now));
  FP_ASSIGN_OR_RETURN(json campaigns, campaigns_json(store_, now));
  return prometheus_text(totals, campaigns);
}

ApiReply Api::handle(const std::string& path, const std::string& query_text, double now) {
  const Endpoint endpoint = endpoint_of(split_path(path));
  if (endpoint.kind == Endpoint::kNone) return {404, error("not found: no API endpoint " + path)};
  auto query = Query::parse(query_text, endpoint.parameters);
  if (!query.ok()) return reply_for(query.status());
  auto reply = [](Result<json> r) -> ApiReply {
    if (!r.ok()) return reply_for(r.status());
    return {200, std::move(r).value()};
  };
  switch (endpoint.kind) {
    case Endpoint::kSummary:
      return reply(summary(store_, now));
    case Endpoint::kAgents:
      return reply(agents_page(store_, *query));
    case Endpoint::kCampaigns:
      return reply(campaigns_json(store_, now));
    default:
      break;
  }
  auto id = parse_id(endpoint.id);
  if (!id) return {400, error("campaign id must be a positive integer, not '" + endpoint.id + "'")};
  auto page = page_of(*query);
  if (!page.ok()) return reply_for(page.status());
  auto results = results_.load(store_, *id, now);
  if (!results.ok()) return reply_for(results.status());
  const CampaignResults& r = *results;
  if (endpoint.kind == Endpoint::kDistribution) return {200, campaign_distribution_json(r)};
  if (endpoint.kind == Endpoint::kCurve) {
    json body =
        campaign_curve_json(r, static_cast<size_t>(page->offset), static_cast<size_t>(page->limit));
    const size_t swept = body["swept"];
    body["page"] = page_json(*page, swept, swept);
    return {200, body};
  }
  auto selected = select_individuals(r, *query);
  if (!selected.ok()) return reply_for(selected.status());
  report::SummaryCache::Answer summary = summaries_.summarize(r, now);
  json body = campaign_overview_json(r, summary.methods);
  // While the campaign runs, the intervals may be a few seconds old (SummaryCache).
  body["methods_summary"]["interval"]["computed_at"] = summary.computed_at;
  body["methods_summary"]["interval"]["current"] = summary.current;
  json individuals = json::array();
  body["page"] = emit_page(*selected, r.individuals.size(), *page, [&](const IndividualResult* i) {
    individuals.push_back(individual_json(*i));
  });
  body["individuals"] = std::move(individuals);
  return {200, body};
}

}  // namespace fp::dash
