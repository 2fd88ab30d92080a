#include "simulation/shared_models.h"

#include <algorithm>
#include <optional>

#include "agent/task_translation.h"

namespace fp::sim {

Result<SharedModel> SharedModels::get(const proto::TaskAssignment& task,
                                      const agent::ModelSource& source) {
  auto parse = [&]() -> Result<SharedModel> {  // load_task_model checks the task's spec
    SharedModel parsed;
    ++parses_;
    FP_ASSIGN_OR_RETURN(ModelPtr model, agent::load_task_model(task, source, &parsed.info));
    parsed.model = std::move(model);
    return parsed;
  };
  const std::string& sha = source.sha256;
  if (!source.in_memory() || sha.empty() || capacity_ == 0) return parse();
  auto find = [&]() -> const SharedModel* {
    auto it =
        std::find_if(kept_.begin(), kept_.end(), [&](const auto& e) { return e.first == sha; });
    if (it == kept_.end()) return nullptr;
    std::rotate(it, it + 1, kept_.end());  // now the most recently used
    return &kept_.back().second;
  };
  std::optional<SharedModel> kept;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (const SharedModel* k = find()) kept = *k;
  }
  if (kept) {
    FP_RETURN_IF_ERROR(agent::check_task_spec(task, *kept->model, source.path));
    return *std::move(kept);
  }
  // Parsed outside the lock: two first tasks of a model may both parse it; one is kept.
  FP_ASSIGN_OR_RETURN(SharedModel parsed, parse());
  std::lock_guard<std::mutex> lock(mutex_);
  if (find() == nullptr) {
    if (kept_.size() >= capacity_) kept_.erase(kept_.begin());
    kept_.emplace_back(sha, parsed);
  }
  return parsed;
}

}  // namespace fp::sim
