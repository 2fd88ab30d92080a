// Between the wire and the engine: a TaskAssignment becomes a PersonalizeConfig, and a
// PersonalizeResult becomes the TelemetryReports an agent sends (one per method).
// Shared by the device agent's runner and the simulation's virtual agents.
#pragma once

#include <string>
#include <vector>

#include "agent/model_source.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "protocol/messages.h"
#include "util/status.h"

namespace fp::agent {

struct BaselineSettings {
  int64_t finetune_epochs = 3;
  double finetune_learning_rate = 0.01;
  bool finetune_last_layer_only = false;
  // The tuned fine-tuning ("finetune"): Adam's learning-rate grid and epoch cap; the
  // three settings above drive the plain recipe ("finetune_plain").
  std::vector<double> finetune_learning_rates = {1e-4, 3e-4, 1e-3};
  int64_t finetune_max_epochs = 10;
};

// A general model from its file or bytes (its artifact's facts into `info`); damaged bytes
// are refused naming the model.
Result<ModelPtr> load_source_model(const ModelSource& model, ArtifactInfo* info);

// The task's general model from its file or bytes (its artifact's facts into `info`),
// refused unless its spec is the one the assignment names.
Result<ModelPtr> load_task_model(const proto::TaskAssignment& task, const ModelSource& model,
                                 ArtifactInfo* info);
// Refuses a model (named `label` in the message) whose spec is not the assignment's.
Status check_task_spec(const proto::TaskAssignment& task, const PrunableNet& model,
                       const std::string& label);

// The assignment's prune config JSON carries the personalization's settings, every key of
// experiment/personalize_settings.h (the label-free selector's included).
Result<PersonalizeConfig> personalize_config_for(const proto::TaskAssignment& task,
                                                 const BaselineSettings& baselines);

// One report per method, Fine-Pruning's first (with the label-free figures). Logs the shift
// the device detected (PersonalizeResult::shift), when it looked for one.
std::vector<proto::TelemetryReport> telemetry_reports(const proto::TaskAssignment& task,
                                                      const PersonalizeConfig& config,
                                                      const PersonalizeResult& result,
                                                      uint64_t peak_memory_bytes);

}  // namespace fp::agent
