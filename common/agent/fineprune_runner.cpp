#include "agent/fineprune_runner.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/device_personalize.h"
#include "agent/kept_model.h"
#include "agent/task_translation.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "prune/cost.h"
#include "util/memory.h"

namespace fp::agent {

Result<const IndividualData*> FinePruneRunner::data_for(const std::string& dataset,
                                                        const std::string& individual) {
  std::string key = dataset + "/" + individual;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    auto data = load_individual(config_.data, individual);
    if (!data.ok()) {
      // Its error names the data's files (an FSDD recording's name holds its digit) and,
      // from FP_FSDD_DIR, their folder: said on the device only, as a folder's errors are.
      spdlog::warn("{} data of individual {}: {}", config_.data.dataset, individual,
                   data.status().to_string());
      return data.status().with_message("the " + config_.data.dataset + " data of individual '" +
                                        individual +
                                        "' cannot be loaded (the device's log says why)");
    }
    it = cache_.emplace(key, std::move(data).value()).first;
  }
  return &it->second;
}

Result<const FolderData*> FinePruneRunner::folder_for(const ModelSpec& spec) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = spec.to_json();
  auto it = folder_cache_.find(key);
  if (it != folder_cache_.end()) {
    // A device's folder changes between tasks (new photos, new recordings): the decoded
    // data are reused only while its files are the ones decoded.
    FP_ASSIGN_OR_RETURN(std::string now, folder_data_signature(config_.folder));
    if (now == it->second.signature) return &it->second;
    spdlog::info("data folder {}: files changed since the last task; reading them again",
                 config_.folder.dir);
  }
  FP_ASSIGN_OR_RETURN(FolderData data, load_folder_data(config_.folder, spec));
  folder_cache_.clear();  // one model's inputs at a time: memory stays bounded
  return &folder_cache_.emplace(key, std::move(data)).first->second;
}

FinePruneRunner::Outcome FinePruneRunner::run(const proto::TaskAssignment& task,
                                              const ModelSource& model,
                                              const std::atomic<bool>& cancel) {
  ArtifactInfo info;
  FP_ASSIGN_OR_RETURN(ModelPtr general, load_task_model(task, model, &info));
  if (task.dataset != config_.data.dataset) {
    return Status::not_found("this agent holds " + config_.data.dataset + " data, not " +
                             task.dataset);
  }
  const Dataset* adaptation = nullptr;
  const Dataset* evaluation = nullptr;
  torch::Tensor label_free_inputs;  // a folder's every held-out input (some may be unlabeled)
  uint64_t skipped_files = 0;
  if (!config_.folder.dir.empty()) {
    FP_ASSIGN_OR_RETURN(const FolderData* folder, folder_for(general->spec()));
    adaptation = &folder->adaptation;
    evaluation = &folder->heldout;
    label_free_inputs = folder->heldout_inputs;
    skipped_files = static_cast<uint64_t>(folder->skipped.count);
  } else {
    FP_ASSIGN_OR_RETURN(const IndividualData* data, data_for(task.dataset, task.individual));
    adaptation = &data->adaptation;
    evaluation = &data->evaluation;
  }
  if (cancel) return Status::unavailable("agent stopping");

  BaselineSettings baselines;
  baselines.finetune_epochs = config_.finetune_epochs;
  FP_ASSIGN_OR_RETURN(PersonalizeConfig config, personalize_config_for(task, baselines));
  FP_ASSIGN_OR_RETURN(
      PersonalizeResult r,
      personalize_on_device(*general, info, *adaptation, *evaluation, config,
                            "task " + std::to_string(task.task_id), label_free_inputs));

  std::vector<proto::TelemetryReport> out = telemetry_reports(task, config, r, peak_rss_bytes());
  proto::TelemetryReport& fine_prune = out.front();
  fine_prune.skipped_files = skipped_files;

  if (!config_.personalized_dir.empty() && r.personalized) {
    FP_ASSIGN_OR_RETURN(KeptModel kept,
                        keep_model(*r.personalized, config_.personalized_dir, task.model_sha256,
                                   task.individual, task.task_id));
    fine_prune.model_bytes = kept.bytes;
    spdlog::info("personalized model kept on this device: {} (sha256 {}, from general {})",
                 kept.path, kept.sha256.substr(0, 12), kept.general_sha256.substr(0, 12));
    // The work folder stays bounded; a model that cannot be removed does not fail the task.
    auto removed = remove_older_kept_models(config_.personalized_dir, config_.kept_models);
    if (!removed.ok()) spdlog::warn("older kept models: {}", removed.status().to_string());
    if (removed.ok() && *removed > 0)
      spdlog::info("{} older personalized model(s) removed (--kept-models {})", *removed,
                   config_.kept_models);
  }
  return out;
}

}  // namespace fp::agent
