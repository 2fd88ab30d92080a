#include "simulation/sim_runner.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/task_translation.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "simulation/population.h"
#include "util/clock.h"
#include "util/compute_threads.h"
#include "util/memory.h"

namespace fp::sim {
namespace {

using Clock = std::chrono::steady_clock;

// The meter counts whole microseconds.
int64_t micros_since(Clock::time_point t) { return static_cast<int64_t>(1e6 * seconds_since(t)); }

}  // namespace

bool WorkerPool::acquire(const std::atomic<bool>& cancel) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (free_ == 0) {
    if (cancel) return false;
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
  --free_;
  ++busy_;
  return true;
}

void WorkerPool::release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++free_;
    --busy_;
  }
  cv_.notify_one();
}

Result<std::vector<proto::TelemetryReport>> SimRunner::run(const proto::TaskAssignment& task,
                                                           const std::string& model_path,
                                                           const std::atomic<bool>& cancel) {
  auto waited = Clock::now();
  if (!pool_.acquire(cancel)) return Status::unavailable("agent stopping");
  meter_.wait_wall_us += micros_since(waited);
  auto result = compute(task, model_path);
  pool_.release();
  ++meter_.tasks;
  if (!result.ok()) ++meter_.failures;
  return result;
}

Result<std::vector<proto::TelemetryReport>> SimRunner::compute(const proto::TaskAssignment& task,
                                                               const std::string& model_path) {
  // LibTorch's thread count is per calling thread under OpenMP: set it where we compute.
  set_compute_threads(static_cast<int>(config_.threads));
  auto loading = Clock::now();
  ArtifactInfo info;
  FP_ASSIGN_OR_RETURN(ModelPtr general, load_model(model_path, &info));
  FP_ASSIGN_OR_RETURN(ModelSpec expected, ModelSpec::from_json(task.model_spec_json));
  if (!(general->spec() == expected)) {
    return Status::invalid_argument("model " + model_path + " does not have the task's spec " +
                                    task.model_spec_json);
  }
  FP_ASSIGN_OR_RETURN(PrivateData data, load_private_data(config_.data_path));
  meter_.load_wall_us += micros_since(loading);
  agent::BaselineSettings baselines{
      config_.baselines.finetune_epochs, config_.baselines.finetune_learning_rate,
      config_.baselines.finetune_last_layer_only, config_.baselines.finetune_learning_rates,
      config_.baselines.finetune_max_epochs};
  FP_ASSIGN_OR_RETURN(PersonalizeConfig config, agent::personalize_config_for(task, baselines));
  FP_RETURN_IF_ERROR(resolve_spread_threshold(info.meta, config.prune));

  auto started = Clock::now();
  const double cpu = thread_cpu_seconds();
  auto result = personalize(*general, data.adaptation, data.evaluation, config);
  meter_.compute_cpu_us += static_cast<int64_t>(1e6 * (thread_cpu_seconds() - cpu));
  meter_.compute_wall_us += micros_since(started);
  if (!result.ok()) return result.status();
  return agent::telemetry_reports(task, config, *result, peak_rss_bytes());
}

Result<std::vector<proto::TelemetryReport>> NullRunner::run(const proto::TaskAssignment& task,
                                                            const std::string& model_path,
                                                            const std::atomic<bool>& cancel) {
  if (!pool_.acquire(cancel)) return Status::unavailable("agent stopping");
  pool_.release();
  ++meter_.tasks;
  std::vector<proto::TelemetryReport> out;
  proto::TelemetryReport r;
  r.method = "fine_prune";
  r.individual = task.individual;
  r.evaluated = true;
  r.accuracy_before = 0.5;
  r.accuracy_after = 0.75;
  r.target_sparsity = r.sparsity = 0.5;
  r.overall_sparsity = 0.25;
  r.layers = {{"conv1", 8, 4, 72, 36}, {"fc", 10, 10, 100, 0}};
  for (double t : task.sweep_targets) r.curve.push_back({t, t, 0.75, 100});
  r.adaptation_samples = r.eval_samples = 100;
  r.macs_dense = 1000;
  r.macs_effective = 500;
  r.peak_memory_bytes = peak_rss_bytes();
  out.push_back(r);
  for (const auto& b : task.baselines) {
    proto::TelemetryReport base = r;
    base.method = b;
    base.layers.clear();
    base.curve.clear();
    out.push_back(base);
  }
  return out;
}

}  // namespace fp::sim
