// Server: handing tasks to agents, taking them back, finishing campaigns.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "coordinator/server.h"
#include "experiment/methods.h"

namespace fp::coord {
namespace {

template <typename T>
std::vector<T> json_list(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  std::vector<T> out;
  if (!j.is_array()) return out;
  for (const auto& item : j) {
    try {
      out.push_back(item.get<T>());
    } catch (const nlohmann::json::exception&) {
    }
  }
  return out;
}

// The methods a task's reports may carry: Fine-Pruning's and its campaign's baselines.
std::vector<std::string> report_methods(const std::string& baselines_json) {
  std::vector<std::string> methods = {kFinePruneMethod};
  for (auto& name : json_list<std::string>(baselines_json)) methods.push_back(std::move(name));
  return methods;
}

}  // namespace

Result<const Server::TaskFacts*> Server::task_facts(int64_t task_id,
                                                    std::optional<store::TaskRecord>* read) {
  auto cached = task_facts_.find(task_id);
  if (cached != task_facts_.end()) return &cached->second;
  FP_ASSIGN_OR_RETURN(auto task, store_for_task_reads().task(task_id));
  if (!task) return Status::not_found("no task " + std::to_string(task_id));
  TaskFacts read_facts{task->campaign_id, task->individual};
  // An ended task's (a late or hostile report) is not kept: only until the next read.
  const TaskFacts* facts = task->status == "done" || task->status == "failed"
                               ? &(ended_task_facts_ = std::move(read_facts))
                               : keep_task_facts(task_id, std::move(read_facts));
  if (read) *read = std::move(task);
  return facts;
}

const Server::TaskFacts* Server::keep_task_facts(int64_t task_id, TaskFacts facts) {
  const TaskFacts* kept = &(task_facts_[task_id] = std::move(facts));
  stats_.tasks_cached = task_facts_.size();
  return kept;
}

void Server::forget_task(int64_t task_id) {
  task_facts_.erase(task_id);
  stats_.tasks_cached = task_facts_.size();
}

Result<const std::vector<std::string>*> Server::campaign_methods(int64_t campaign_id) {
  auto cached = campaign_methods_.find(campaign_id);
  if (cached != campaign_methods_.end()) return &cached->second;
  FP_ASSIGN_OR_RETURN(auto campaign, store_for_task_reads().campaign(campaign_id));
  if (!campaign) return Status::not_found("no campaign " + std::to_string(campaign_id));
  return &(campaign_methods_[campaign_id] = report_methods(campaign->baselines_json));
}

Result<std::string> Server::report_problem(const proto::TelemetryReport& m,
                                           const TaskFacts& facts) {
  const std::string task = "task " + std::to_string(m.task_id);
  if (m.individual != facts.individual) {
    return "a report on " + task + " names individual '" + m.individual + "', not its task's '" +
           facts.individual + "'";
  }
  FP_ASSIGN_OR_RETURN(const auto* methods, campaign_methods(facts.campaign_id));
  if (std::find(methods->begin(), methods->end(), m.method) != methods->end()) return std::string();
  std::string names;
  for (const auto& name : *methods) names += (names.empty() ? "" : ", ") + name;
  return "a report on " + task + " is of method '" + m.method +
         "', which its campaign did not ask for (" + names + ")";
}

bool Server::holds(const Session& s, int64_t task_id, const store::TaskRecord* read) {
  if (task_id != 0 && task_id == s.task_id) return true;
  // Not its current task: one it held before (requeued from it and not given to anyone
  // since, or finished by it). Another agent's task, one that failed, or none, is not its
  // to report on.
  if (read) return read->agent_id == s.agent_id && read->status != "failed";
  auto task = store_for_task_reads().task(task_id);
  return task.ok() && task->has_value() && (*task)->agent_id == s.agent_id &&
         (*task)->status != "failed";
}

void Server::start_task_clock(Session& s, int64_t task_id) {
  std::string model_sha256;
  int64_t model_bytes = 0;
  auto facts = task_facts(task_id);
  if (facts.ok()) {
    auto c = store().campaign((*facts)->campaign_id);
    if (c.ok() && c->has_value()) {
      model_sha256 = (*c)->model_sha256;
      auto model = registry().find(model_sha256);
      if (model.ok()) model_bytes = model->size_bytes;
    }
  }
  start_task_clock(s, task_id, model_sha256, model_bytes);
}

void Server::start_task_clock(Session& s, int64_t task_id, const std::string& model_sha256,
                              int64_t model_bytes) {
  s.task_id = task_id;
  s.model_sha256 = model_sha256;
  // The expected cost grows with the model: download, load and prune.
  const double model_mb = static_cast<double>(model_bytes) / (1 << 20);
  double seconds = config_.task_deadline_s + config_.task_deadline_s_per_mb * model_mb;
  s.deadline = Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void Server::requeue_overdue() {
  auto t = Clock::now();
  for (auto& [peer, s] : sessions_) {
    if (s.task_id == 0 || t < s.deadline) continue;
    int64_t task = s.task_id;
    ++stats_.tasks_past_deadline;
    std::string why =
        "task " + std::to_string(task) + " passed its deadline (server.task_deadline_s)";
    event("deadline", s.agent_id, task, why);
    spdlog::warn("agent {}: {}; requeued", s.agent_id, why);
    // Not kept for this agent: its late reports are refused, another agent may take it.
    requeue(task, s.agent_id, why, /*keep_holder=*/false);
    s.task_id = 0;
    s.overdue_task = task;  // no new task until it lets go of this one
  }
}

bool Server::waits_for_model(const store::CampaignRecord& c, const Status& problem) {
  const auto [since, first] = model_missing_since_.emplace(c.model_sha256, Clock::now());
  const double waited = std::chrono::duration<double>(Clock::now() - since->second).count();
  if (first) {
    const std::string why = "model " + c.model_sha256.substr(0, 12) + ": " + problem.message();
    event("model", "", 0, why);
    spdlog::error(
        "campaign {}: {}; its tasks stay pending for up to {:g} s (server.model_wait_s) for the "
        "file to come back, then fail",
        c.name, why, config_.model_wait_s);
  }
  return waited < config_.model_wait_s;
}

void Server::try_assign(Session& s) {
  if (s.task_id != 0 || s.overdue_task != 0 || stopping_) return;
  const AgentView agent{s.agent_id, s.holdings};
  std::set<int64_t> held;  // campaigns whose model file is away: their tasks wait
  while (true) {
    auto found = policy_->next_task(store(), agent, held);
    if (!found.ok()) {
      spdlog::error("finding a task: {}", found.status().to_string());
      return;
    }
    if (!found->has_value()) return;
    store::TaskRecord task = **found;
    double t = now();
    // Failed for good instead of assigned; the agent it was for is told (`told` says why
    // without the coordinator's file names), so that one counting its tasks (a simulated
    // device, which leaves after them) does not wait for it in a connection slot.
    auto give_up = [&](const std::string& why, const std::string& told) {
      must_write(store().finish_task(task.id, false, why, t), "failing a task");
      forget_task(task.id);
      event("failure", s.agent_id, task.id, why);
      spdlog::warn("task {} failed: {}", task.id, why);
      reply_error(s.peer, proto::ErrorCode::kTaskFailed,
                  "task " + std::to_string(task.id) + " failed for good: " + told,
                  proto::kFailedTaskRefPrefix + std::to_string(task.id));
      check_campaign(task.campaign_id);
    };
    if (auto why = policy_->give_up(task)) {
      give_up(*why, *why);
      continue;
    }
    auto campaign = store().campaign(task.campaign_id);
    if (!campaign.ok() || !campaign->has_value()) {
      const std::string why = "campaign " + std::to_string(task.campaign_id) + " is missing";
      give_up(why, why);
      continue;
    }
    const auto& c = **campaign;
    // Whatever the policy says, an agent only ever works on data it holds.
    if (std::find(s.holdings.begin(), s.holdings.end(),
                  std::make_pair(c.dataset, task.individual)) == s.holdings.end()) {
      spdlog::error("campaign policy offered task {} ({}/{}) to agent {}, which does not hold it",
                    task.id, c.dataset, task.individual, s.agent_id);
      return;
    }
    auto model = registry().find(c.model_sha256);
    if (!model.ok()) {
      if (waits_for_model(c, model.status())) {  // pending: tried again next heartbeat
        held.insert(c.id);
        continue;  // another campaign's task may go out meanwhile
      }
      give_up("model unavailable: " + model.status().message(),
              "its model is unavailable on the coordinator");
      continue;
    }
    if (model_missing_since_.erase(c.model_sha256) > 0) {
      event("model", "", 0, "model " + c.model_sha256.substr(0, 12) + " usable again");
      spdlog::info("campaign {}: model {} is usable again; its tasks are handed out", c.name,
                   c.model_sha256.substr(0, 12));
    }
    // A task the previous run had given this same agent, which did not claim it in its
    // Hello, never reached it (the run died between committing the assignment and sending
    // it) or was lost with the agent's own restart: giving it again is not counted as a new
    // attempt (at worst a task that kills its agent gets one more try per coordinator
    // restart). Any other agent's try is one.
    const bool undelivered = restart_orphans_.erase(task.id) > 0 && task.agent_id == s.agent_id;
    Status assigned = store().assign_task(task.id, s.agent_id, t, !undelivered);
    if (!assigned.ok()) {
      spdlog::error("assigning task {}: {}", task.id, assigned.to_string());
      return;
    }
    proto::TaskAssignment a;
    a.task_id = static_cast<uint64_t>(task.id);
    a.campaign_id = static_cast<uint64_t>(c.id);
    a.model_sha256 = model->sha256;
    a.model_size = static_cast<uint64_t>(model->size_bytes);
    a.model_spec_json = model->spec_json;
    a.prune_config_json = c.prune_config_json;
    a.dataset = c.dataset;
    a.individual = task.individual;
    a.baselines = json_list<std::string>(c.baselines_json);
    a.sweep_targets = json_list<double>(c.sweep_targets_json);
    // Kept now, from what was read to assign it: its reports then read nothing (a read
    // on the loop would hold a burst's reports from the background commit).
    keep_task_facts(task.id, TaskFacts{c.id, task.individual});
    campaign_methods_.insert_or_assign(c.id, report_methods(c.baselines_json));
    start_task_clock(s, task.id, c.model_sha256, model->size_bytes);
    s.assignment = a;
    s.assigned_at = Clock::now();
    event("assign", s.agent_id, task.id, c.name + ": " + a.dataset + "/" + a.individual);
    spdlog::info("task {} ({}/{}) -> agent {}", task.id, a.dataset, a.individual, s.agent_id);
    send(s.peer, std::move(a));
    return;
  }
}

void Server::tell_if_no_task_left(Session& s) {
  // Two ticks: idle for at least one whole interval, so an agent leaving after its last
  // task (at once, on its own) is gone and never hears it.
  if (!s.leaves_when_done || s.told_no_task_left || s.idle_ticks < 2 || stopping_) return;
  bool had_tasks = false;
  for (const auto& [dataset, individual] : s.holdings) {
    auto tasks = store().data_tasks(dataset, individual);
    if (!tasks.ok()) {
      spdlog::error("looking for an agent's tasks: {}", tasks.status().to_string());
      return;
    }
    if (*tasks == store::Store::DataTasks::kOpen) return;
    had_tasks = had_tasks || *tasks == store::Store::DataTasks::kAllEnded;
  }
  // Data no campaign ever had a task for is not "done": such an agent (a host started with
  // another scenario's individuals) waits, in view, rather than leave as if finished.
  if (!had_tasks) return;
  s.told_no_task_left = true;
  spdlog::info("agent {}: no task left on its data; told so", s.agent_id);
  send(s.peer, proto::Goodbye{"no running campaign has a task left on this agent's data",
                              /*no_task_left=*/true});
}

void Server::drop_session(const std::string& peer, const std::string& kind,
                          const std::string& why) {
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) return;
  Session s = std::move(it->second);
  sessions_.erase(it);
  by_agent_.erase(s.agent_id);
  ++stats_.agents_dropped;
  event(kind, s.agent_id, s.task_id, why);
  spdlog::info("agent {} dropped ({}): {}", s.agent_id, kind, why);
  must_write(store().set_agent_status(s.agent_id, "offline", now()), "an agent's status");
  if (s.task_id != 0) requeue(s.task_id, s.agent_id, why);
}

void Server::requeue(int64_t task_id, const std::string& agent_id, const std::string& why,
                     bool keep_holder) {
  auto requeued = store().requeue_task(task_id, keep_holder);
  if (requeued.ok() && *requeued) {
    ++stats_.tasks_requeued;
    event("requeue", agent_id, task_id, why);
    spdlog::info("task {} requeued: {}", task_id, why);
  }
}

void Server::check_campaign(int64_t campaign_id) {
  // Called after every finished task: while tasks remain (nearly always), one indexed
  // lookup decides, and neither this campaign nor all of them can be finished.
  auto unfinished = store().has_unfinished_tasks(campaign_id);
  if (!unfinished.ok() || *unfinished) return;
  auto campaign = store().campaign(campaign_id);
  auto counts = store().task_counts(campaign_id);
  if (!campaign.ok() || !campaign->has_value() || !counts.ok()) return;
  const auto& c = **campaign;
  bool finished = counts->total() > 0 && counts->pending == 0 && counts->assigned == 0;
  if (finished && !c.open_enrollment && c.status == "running") {
    auto done = store().mark_campaign_done(campaign_id);  // not when a retry put tasks back
    must_write(done.status(), "a campaign's status");
    if (done.ok() && *done) {
      event("campaign-done", "", 0,
            c.name + ": " + std::to_string(counts->done) + " done, " +
                std::to_string(counts->failed) + " failed");
      spdlog::info("campaign {} finished: {} task(s) done, {} failed", c.name, counts->done,
                   counts->failed);
    }
  }
  if (config_.exit_when_done && all_campaigns_finished()) {
    spdlog::info("every campaign is finished; stopping (--exit-when-done)");
    stopping_ = all_done_ = true;
  }
}

bool Server::all_campaigns_finished() {
  auto campaigns = store().campaigns();
  if (!campaigns.ok() || campaigns->empty()) return false;
  for (const auto& c : *campaigns) {
    if (c.status != "running") continue;  // done, or superseded by a newer campaign
    if (!c.open_enrollment) return false;
    auto counts = store().task_counts(c.id);
    if (!counts.ok() || counts->total() == 0 || counts->pending || counts->assigned) return false;
  }
  return true;
}

}  // namespace fp::coord
