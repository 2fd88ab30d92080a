#include "agent/fineprune_runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "experiment/personalize.h"
#include "models/artifact.h"
#include "prune/cost.h"

namespace fp::agent {
namespace {

proto::TelemetryReport base_report(const proto::TaskAssignment& task, const PersonalizeResult& r,
                                   const MethodResult& m) {
  proto::TelemetryReport t;
  t.method = m.method;
  t.individual = task.individual;
  t.evaluated = true;
  t.accuracy_before = r.general.accuracy;
  t.accuracy_after = m.accuracy;
  t.sparsity = std::clamp(m.sparsity, 0.0, 1.0);
  t.adaptation_samples = static_cast<uint64_t>(r.adaptation_samples);
  t.eval_samples = static_cast<uint64_t>(r.evaluation_samples);
  t.wall_seconds = m.wall_seconds;
  t.macs_dense = static_cast<uint64_t>(r.general.macs_per_sample);
  t.macs_effective = static_cast<uint64_t>(std::min(m.macs_per_sample, r.general.macs_per_sample));
  t.peak_memory_bytes = peak_memory_bytes();
  return t;
}

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

}  // namespace

uint64_t peak_memory_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

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

  PersonalizeConfig config;
  FP_ASSIGN_OR_RETURN(config.prune, PruneConfig::from_json(task.prune_config_json));
  auto extra = nlohmann::json::parse(task.prune_config_json, nullptr, false);
  config.select_sparsity = extra.is_object() && extra.value("select_sparsity", false);
  if (extra.is_object() && extra.contains("selector") && extra["selector"].is_string()) {
    FP_ASSIGN_OR_RETURN(config.selector.score,
                        parse_selection_score(extra["selector"].get<std::string>()));
  }
  config.sweep_targets = task.sweep_targets;
  auto wants = [&](const char* b) {
    return std::find(task.baselines.begin(), task.baselines.end(), b) != task.baselines.end();
  };
  config.run_finetune = wants("finetune");
  config.run_svd = wants("svd");
  config.finetune.train.epochs = config_.finetune_epochs;
  FP_ASSIGN_OR_RETURN(PersonalizeResult r,
                      personalize(*general, data->adaptation, data->evaluation, config));

  std::vector<proto::TelemetryReport> out;
  proto::TelemetryReport fp = base_report(task, r, r.fine_prune);
  fp.target_sparsity = config.select_sparsity ? r.selection.chosen : config.prune.target_sparsity;
  fp.sparsity = r.sparsity.sparsity();
  fp.overall_sparsity = r.sparsity.overall_sparsity();
  for (const auto& l : r.sparsity.layers) {
    fp.layers.push_back({l.name, static_cast<uint64_t>(l.units),
                         static_cast<uint64_t>(l.active_units), static_cast<uint64_t>(l.weights),
                         static_cast<uint64_t>(l.zeroed_weights)});
  }
  for (const auto& p : r.sweep) {
    fp.curve.push_back({p.target, std::clamp(p.sparsity, 0.0, 1.0), p.accuracy,
                        static_cast<uint64_t>(std::max<int64_t>(0, p.macs))});
  }
  out.push_back(fp);
  if (config.run_finetune) out.push_back(base_report(task, r, r.finetune));
  if (config.run_svd) {
    auto svd = base_report(task, r, r.svd);
    svd.target_sparsity = fp.sparsity;  // matched to the Fine-Pruned parameter count
    out.push_back(svd);
  }

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
