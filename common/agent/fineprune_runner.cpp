#include "agent/fineprune_runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/task_translation.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "prune/cost.h"
#include "util/memory.h"

namespace fp::agent {
namespace {

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

}  // namespace

Result<const IndividualData*> FinePruneRunner::data_for(const std::string& dataset,
                                                        const std::string& individual) {
  if (dataset != config_.data.dataset) {
    return Status::not_found("this agent holds " + config_.data.dataset + " data, not " + dataset);
  }
  std::string key = dataset + "/" + individual;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    FP_ASSIGN_OR_RETURN(IndividualData data, load_individual(config_.data, individual));
    it = cache_.emplace(key, std::move(data)).first;
  }
  return &it->second;
}

Result<std::vector<proto::TelemetryReport>> FinePruneRunner::run(const proto::TaskAssignment& task,
                                                                 const std::string& model_path,
                                                                 const std::atomic<bool>& cancel) {
  ArtifactInfo info;
  FP_ASSIGN_OR_RETURN(ModelPtr general, load_model(model_path, &info));
  FP_ASSIGN_OR_RETURN(ModelSpec expected, ModelSpec::from_json(task.model_spec_json));
  if (!(general->spec() == expected)) {
    return Status::invalid_argument("model " + model_path + " does not have the task's spec " +
                                    task.model_spec_json);
  }
  FP_ASSIGN_OR_RETURN(const IndividualData* data, data_for(task.dataset, task.individual));
  if (cancel) return Status::unavailable("agent stopping");

  BaselineSettings baselines;
  baselines.finetune_epochs = config_.finetune_epochs;
  FP_ASSIGN_OR_RETURN(PersonalizeConfig config, personalize_config_for(task, baselines));
  FP_ASSIGN_OR_RETURN(PersonalizeResult r,
                      personalize(*general, data->adaptation, data->evaluation, config));

  std::vector<proto::TelemetryReport> out = telemetry_reports(task, config, r, peak_rss_bytes());

  if (!config_.personalized_dir.empty() && r.personalized) {
    std::filesystem::create_directories(config_.personalized_dir);
    std::string path =
        (std::filesystem::path(config_.personalized_dir) /
         ("task" + std::to_string(task.task_id) + "-" + file_safe(task.individual) + ".fpm"))
            .string();
    FP_RETURN_IF_ERROR(save_model(*r.personalized, path,
                                  {{"general_sha256", task.model_sha256},
                                   {"individual", task.individual},
                                   {"task", std::to_string(task.task_id)}}));
  }
  return out;
}

}  // namespace fp::agent
