// Server: handing tasks to agents, taking them back, finishing campaigns.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "coordinator/server.h"

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

}  // namespace

Result<int64_t> Server::campaign_of_task(int64_t task_id) {
  auto cached = task_campaign_.find(task_id);
  if (cached != task_campaign_.end()) return cached->second;
  FP_ASSIGN_OR_RETURN(auto task, store_.task(task_id));
  if (!task) return Status::not_found("no task " + std::to_string(task_id));
  task_campaign_[task_id] = task->campaign_id;
  return task->campaign_id;
}

void Server::try_assign(Session& s) {
  if (s.task_id != 0 || stopping_) return;
  for (const auto& [dataset, individual] : s.holdings) {
    while (true) {
      auto found = store_.find_pending_task(dataset, individual);
      if (!found.ok()) {
        spdlog::error("finding a task: {}", found.status().to_string());
        return;
      }
      if (!found->has_value()) break;
      store::TaskRecord task = **found;
      double t = now();
      auto give_up = [&](const std::string& why) {
        (void)store_.finish_task(task.id, false, why, t);
        event("failure", "", task.id, why);
        spdlog::warn("task {} failed: {}", task.id, why);
        check_campaign(task.campaign_id);
      };
      if (task.attempts >= config_.max_attempts) {
        give_up("gave up after " + std::to_string(task.attempts) + " attempt(s)");
        continue;
      }
      auto campaign = store_.campaign(task.campaign_id);
      if (!campaign.ok() || !campaign->has_value()) {
        give_up("campaign " + std::to_string(task.campaign_id) + " is missing");
        continue;
      }
      const auto& c = **campaign;
      auto model = registry_.find(c.model_sha256);
      if (!model.ok()) {
        give_up("model unavailable: " + model.status().message());
        continue;
      }
      Status assigned = store_.assign_task(task.id, s.agent_id, t);
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
      a.dataset = dataset;
      a.individual = individual;
      a.baselines = json_list<std::string>(c.baselines_json);
      a.sweep_targets = json_list<double>(c.sweep_targets_json);
      s.task_id = task.id;
      s.assignment = a;
      s.assigned_at = Clock::now();
      task_campaign_[task.id] = c.id;
      event("assign", s.agent_id, task.id, c.name + ": " + dataset + "/" + individual);
      spdlog::info("task {} ({}/{}) -> agent {}", task.id, dataset, individual, s.agent_id);
      send(s.peer, std::move(a));
      return;
    }
  }
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
  (void)store_.set_agent_status(s.agent_id, "offline", now());
  if (s.task_id != 0) requeue(s.task_id, s.agent_id, why);
}

void Server::requeue(int64_t task_id, const std::string& agent_id, const std::string& why) {
  auto requeued = store_.requeue_task(task_id);
  if (requeued.ok() && *requeued) {
    ++stats_.tasks_requeued;
    event("requeue", agent_id, task_id, why);
    spdlog::info("task {} requeued: {}", task_id, why);
  }
}

void Server::check_campaign(int64_t campaign_id) {
  auto campaign = store_.campaign(campaign_id);
  auto counts = store_.task_counts(campaign_id);
  if (!campaign.ok() || !campaign->has_value() || !counts.ok()) return;
  const auto& c = **campaign;
  bool finished = counts->total() > 0 && counts->pending == 0 && counts->assigned == 0;
  if (finished && !c.open_enrollment && c.status == "running") {
    (void)store_.set_campaign_status(campaign_id, "done");
    event("campaign-done", "", 0,
          c.name + ": " + std::to_string(counts->done) + " done, " +
              std::to_string(counts->failed) + " failed");
    spdlog::info("campaign {} finished: {} task(s) done, {} failed", c.name, counts->done,
                 counts->failed);
  }
  if (config_.exit_when_done && all_campaigns_finished()) {
    spdlog::info("every campaign is finished; stopping (--exit-when-done)");
    stopping_ = true;
  }
}

bool Server::all_campaigns_finished() {
  auto campaigns = store_.campaigns();
  if (!campaigns.ok() || campaigns->empty()) return false;
  for (const auto& c : *campaigns) {
    if (!c.open_enrollment) {
      if (c.status == "running") return false;
      continue;
    }
    auto counts = store_.task_counts(c.id);
    if (!counts.ok() || counts->total() == 0 || counts->pending || counts->assigned) return false;
  }
  return true;
}

}  // namespace fp::coord
