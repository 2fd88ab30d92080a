#include "coordinator/campaign_policy.h"

namespace fp::coord {

bool FirstPendingPolicy::enroll(const AgentView&, const std::string&, const std::string&) {
  return true;
}

Result<std::optional<store::TaskRecord>> FirstPendingPolicy::next_task(
    store::Store& store, const AgentView& agent, const std::set<int64_t>& held) {
  for (const auto& [dataset, individual] : agent.holdings) {
    FP_ASSIGN_OR_RETURN(auto found, store.find_pending_task(dataset, individual, held));
    if (found) return found;
  }
  return std::optional<store::TaskRecord>();
}

std::optional<std::string> FirstPendingPolicy::give_up(const store::TaskRecord& task) {
  if (task.attempts < max_attempts_) return std::nullopt;
  return "gave up after " + std::to_string(task.attempts) + " attempt(s)";
}

}  // namespace fp::coord
