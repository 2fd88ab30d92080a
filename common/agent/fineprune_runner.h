// The real task runner: Fine-Pruning (and, when asked, the fine-tuning and SVD
// baselines) on this device's private data, through fp::personalize. The data are
// loaded here from a local path and never leave: what returns is telemetry. Without
// labels only Fine-Pruning runs and the report carries label-free figures
// (evaluated = false); the personalized model is kept on the device (kept_model.h).
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "agent/folder_data.h"
#include "agent/local_data.h"
#include "agent/task_runner.h"

namespace fp::agent {

struct FinePruneRunnerConfig {
  LocalDataConfig data;
  // folder.dir set: the device's own files (agent/folder_data.h) are its private data,
  // labeled or not, instead of an individual of a built-in data set.
  FolderDataConfig folder;
  std::string personalized_dir;  // keeps each personalized model here ("" : not kept)
  size_t kept_models = 5;        // the newest this many there (0: all)
  // The plain fine-tuning recipe's epochs ("finetune_plain"); the default "finetune"
  // chooses its own on a validation slice (BaselineSettings::finetune_max_epochs).
  int64_t finetune_epochs = 3;
};

class FinePruneRunner : public TaskRunner {
 public:
  explicit FinePruneRunner(FinePruneRunnerConfig config) : config_(std::move(config)) {}

  Outcome run(const proto::TaskAssignment& task, const ModelSource& model,
              const std::atomic<bool>& cancel) override;

 private:
  Result<const IndividualData*> data_for(const std::string& dataset, const std::string& individual);
  Result<const FolderData*> folder_for(const ModelSpec& spec);

  FinePruneRunnerConfig config_;
  std::mutex mutex_;
  std::map<std::string, IndividualData> cache_;     // by "dataset/individual"
  std::map<std::string, FolderData> folder_cache_;  // by the model spec's JSON
};

}  // namespace fp::agent
