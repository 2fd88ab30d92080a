#include "simulation/shared_models.h"

#include "agent/task_translation.h"

namespace fp::sim {

Result<SharedModel> SharedModels::get(const proto::TaskAssignment& task,
                                      const agent::ModelSource& source) {
  const std::string& sha = source.sha256;
  if (!source.in_memory() || sha.empty() || !kept_) {
    SharedModel own;  // load_task_model checks the task's spec
    ++parses_;
    FP_ASSIGN_OR_RETURN(own.model, agent::load_task_model(task, source, &own.info));
    return own;
  }
  // Parsed outside the memo's lock (two first tasks of a model may both parse it; one is
  // kept); bytes that verified to one hash fail alike, so a failure is kept too. The spec is
  // each task's own to check.
  FP_ASSIGN_OR_RETURN(SharedModel kept, kept_->get(sha, [&](const std::string&) {
    SharedModel parsed;
    ++parses_;
    auto model = agent::load_source_model(source, &parsed.info);
    if (!model.ok()) return Result<SharedModel>(model.status());
    parsed.model = std::move(model).value();
    return Result<SharedModel>(std::move(parsed));
  }));
  FP_RETURN_IF_ERROR(agent::check_task_spec(task, *kept.model, source.path));
  return kept;
}

}  // namespace fp::sim
