#include "agent/task_translation.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "experiment/personalize_settings.h"
#include "util/text_memo.h"

namespace fp::agent {
namespace {

proto::TelemetryReport method_report(const proto::TaskAssignment& task, const PersonalizeResult& r,
                                     const MethodResult& m, uint64_t peak_memory) {
  proto::TelemetryReport t;
  t.method = m.method;
  t.individual = task.individual;
  t.evaluated = r.evaluated;
  t.accuracy_before = r.general.accuracy;
  t.accuracy_after = m.accuracy;
  t.sparsity = std::clamp(m.sparsity, 0.0, 1.0);
  t.adaptation_samples = static_cast<uint64_t>(r.adaptation_samples);
  t.eval_samples = static_cast<uint64_t>(r.evaluation_samples);
  t.wall_seconds = m.wall_seconds;
  t.macs_dense = static_cast<uint64_t>(std::max<int64_t>(0, r.general.macs_per_sample));
  t.macs_effective =
      static_cast<uint64_t>(std::clamp<int64_t>(m.macs_per_sample, 0, r.general.macs_per_sample));
  t.peak_memory_bytes = peak_memory;
  t.compute_macs = static_cast<uint64_t>(std::max<int64_t>(0, m.compute_macs));
  t.compact_parameters = static_cast<uint64_t>(std::max<int64_t>(0, m.compact_parameters));
  t.compact_bytes = static_cast<uint64_t>(std::max<int64_t>(0, m.compact_bytes));
  return t;
}

}  // namespace

Result<ModelPtr> load_source_model(const ModelSource& model, ArtifactInfo* info) {
  if (!model.in_memory()) return load_model(model.path, info);
  Result<ModelPtr> loaded = deserialize_model(*model.bytes, info);
  if (!loaded.ok()) return Status::corruption(model.path + ": " + loaded.status().message());
  return loaded;
}

Result<ModelPtr> load_task_model(const proto::TaskAssignment& task, const ModelSource& model,
                                 ArtifactInfo* info) {
  FP_ASSIGN_OR_RETURN(ModelPtr general, load_source_model(model, info));
  FP_RETURN_IF_ERROR(check_task_spec(task, *general, model.path));
  return general;
}

Status check_task_spec(const proto::TaskAssignment& task, const PrunableNet& model,
                       const std::string& label) {
  static TextMemo<Result<ModelSpec>> specs;  // a campaign's tasks share the text
  FP_ASSIGN_OR_RETURN(ModelSpec expected, specs.get(task.model_spec_json, ModelSpec::from_json));
  if (!(model.spec() == expected)) {
    return Status::invalid_argument("model " + label + " does not have the task's spec " +
                                    task.model_spec_json);
  }
  return Status::ok_status();
}

Result<PersonalizeConfig> personalize_config_for(const proto::TaskAssignment& task,
                                                 const BaselineSettings& baselines) {
  // "privacy" travels in the same JSON; agent/report_privacy.h reads it. A campaign's tasks
  // share the text: parsed once.
  static TextMemo<Result<PersonalizeConfig>> settings;
  auto parsed = settings.get(task.prune_config_json, [](const std::string& text) {
    PersonalizeConfig c;
    Status s = apply_personalize_settings(text, c, {"privacy"});
    return s.ok() ? Result<PersonalizeConfig>(std::move(c))
                  : Result<PersonalizeConfig>(
                        Status::invalid_argument("task prune config: " + s.message()));
  });
  if (!parsed.ok()) return parsed.status();
  PersonalizeConfig c = std::move(parsed).value();
  c.sweep_targets = task.sweep_targets;
  auto wants = [&](const char* b) {
    return std::find(task.baselines.begin(), task.baselines.end(), b) != task.baselines.end();
  };
  c.run_finetune = wants("finetune");
  c.run_svd = wants("svd");
  for (const auto& b : task.baselines)
    if (b != "finetune" && b != "svd") c.extra_methods.push_back(b);
  c.tuned_finetune.learning_rates = baselines.finetune_learning_rates;
  c.tuned_finetune.max_epochs = baselines.finetune_max_epochs;
  c.tuned_finetune.last_layer_only = baselines.finetune_last_layer_only;
  c.finetune.train.epochs = baselines.finetune_epochs;
  c.finetune.train.learning_rate = baselines.finetune_learning_rate;
  c.finetune.last_layer_only = baselines.finetune_last_layer_only;
  return c;
}

std::vector<proto::TelemetryReport> telemetry_reports(const proto::TaskAssignment& task,
                                                      const PersonalizeConfig& config,
                                                      const PersonalizeResult& r,
                                                      uint64_t peak_memory) {
  std::vector<proto::TelemetryReport> out;
  if (r.class_spread >= 0) {  // the device's decision, which no telemetry field carries
    std::string check;
    if (r.reestimation.ran) {
      const ReestimationCheck& c = r.reestimation;
      check = fmt::format(
          "; re-estimation check: confidence {:.3f} -> {:.3f} (ratio {:.3f}, minimum {:g}){}, "
          "agreement {:.3f}, spread {:.3f} -> {:.3f}",
          c.confidence_before, c.confidence_after, c.confidence_ratio(),
          config.prune.reestimation_min_confidence_ratio,
          r.shift_overturned ? ", verdict overturned" : "", c.agreement, c.spread_before,
          c.spread_after);
    }
    spdlog::info("task {} ({}): class spread {:.3f}, {} shift (threshold {:.3f}){}", task.task_id,
                 task.individual, r.class_spread, shift_kind_name(r.shift),
                 config.prune.class_spread_threshold, check);
  }
  proto::TelemetryReport fp = method_report(task, r, r.fine_prune, peak_memory);
  fp.mean_confidence_before = r.label_free.confidence_before;
  fp.mean_confidence_after = r.label_free.confidence_after;
  fp.agreement = r.label_free.agreement;
  fp.target_sparsity = config.select_sparsity ? r.selection.chosen : config.prune.target_sparsity;
  fp.sparsity = std::clamp(r.sparsity.sparsity(), 0.0, 1.0);
  fp.overall_sparsity = std::clamp(r.sparsity.overall_sparsity(), 0.0, 1.0);
  for (const auto& l : r.sparsity.layers) {
    fp.layers.push_back({l.name, static_cast<uint64_t>(l.units),
                         static_cast<uint64_t>(l.active_units), static_cast<uint64_t>(l.weights),
                         static_cast<uint64_t>(l.zeroed_weights)});
  }
  for (const auto& p : r.sweep) {
    fp.curve.push_back({p.target, std::clamp(p.sparsity, 0.0, 1.0), p.accuracy,
                        static_cast<uint64_t>(std::max<int64_t>(0, p.macs))});
  }
  out.push_back(std::move(fp));
  if (config.run_finetune) out.push_back(method_report(task, r, r.finetune, peak_memory));
  if (config.run_svd) {
    auto svd = method_report(task, r, r.svd, peak_memory);
    svd.target_sparsity = out.front().sparsity;  // matched to the Fine-Pruned parameter count
    out.push_back(std::move(svd));
  }
  for (const auto& m : r.extra) out.push_back(method_report(task, r, m, peak_memory));
  return out;
}

}  // namespace fp::agent
