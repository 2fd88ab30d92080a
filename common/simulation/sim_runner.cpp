#include "simulation/sim_runner.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/task_translation.h"
#include "experiment/methods.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "simulation/population.h"
#include "simulation/shared_models.h"
#include "util/clock.h"
#include "util/compute_threads.h"
#include "util/memory.h"
#include "util/thread_name.h"
#include "util/thread_priority.h"

namespace fp::sim {
namespace {

using Clock = std::chrono::steady_clock;

// The meter counts whole microseconds.
int64_t micros_since(Clock::time_point t) { return static_cast<int64_t>(1e6 * seconds_since(t)); }

}  // namespace

struct WorkerPool::Job {
  const std::function<void()>* fn = nullptr;
  enum class State { kQueued, kRunning, kDone } state = State::kQueued;
  std::exception_ptr error;  // what the job threw, rethrown to run()'s caller
  // Its own: a job's end wakes its caller alone, not every caller waiting on the pool.
  std::condition_variable done;
};

WorkerPool::WorkerPool(int64_t slots, int nice) : nice_(nice) {
  for (int64_t i = 0; i < std::max<int64_t>(1, slots); ++i)
    threads_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::work() {
  set_thread_name("fp-compute");
  if (Status s = lower_thread_priority(nice_); !s.ok())
    spdlog::warn("compute thread keeps its priority: {}", s.message());
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return quit_ || !queue_.empty(); });
    if (quit_) return;
    Job* job = queue_.front();
    queue_.pop_front();
    job->state = Job::State::kRunning;
    ++busy_;
    lock.unlock();
    try {
      (*job->fn)();
    } catch (...) {
      job->error = std::current_exception();
    }
    lock.lock();
    --busy_;
    job->state = Job::State::kDone;
    job->done.notify_one();  // under the lock: the caller, which owns the job, waits for it
  }
}

bool WorkerPool::run(const std::function<void()>& job, const std::atomic<bool>& cancel) {
  Job j;
  j.fn = &job;
  std::unique_lock<std::mutex> lock(mutex_);
  queue_.push_back(&j);
  work_cv_.notify_one();
  // The wait looks at `cancel` every 50 ms: the agent's stop() sets it from another thread.
  while (j.state != Job::State::kDone) {
    if (j.state == Job::State::kQueued && (cancel || quit_)) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), &j));
      return false;
    }
    j.done.wait_for(lock, std::chrono::milliseconds(50));
  }
  if (j.error) std::rethrow_exception(j.error);
  return true;
}

SimRunner::Outcome SimRunner::run(const proto::TaskAssignment& task,
                                  const agent::ModelSource& model,
                                  const std::atomic<bool>& cancel) {
  const auto queued = Clock::now();
  Outcome result = Status::internal("not computed");
  const std::function<void()> job = [&] {
    meter_.wait_wall_us += micros_since(queued);
    const double cpu = thread_cpu_seconds();
    result = compute(task, model);
    meter_.job_cpu_us += static_cast<int64_t>(1e6 * (thread_cpu_seconds() - cpu));
  };
  if (!pool_.run(job, cancel)) return Status::unavailable("agent stopping");
  ++meter_.tasks;
  if (!result.ok()) ++meter_.failures;
  return result;
}

SimRunner::Outcome SimRunner::compute(const proto::TaskAssignment& task,
                                      const agent::ModelSource& model) {
  // LibTorch's thread count is per calling thread under OpenMP: set it where we compute.
  set_compute_threads(static_cast<int>(config_.threads));
  auto loading = Clock::now();
  SharedModels own(0);  // without the host's: parsed for this task alone
  SharedModels& models = config_.models ? *config_.models : own;
  FP_ASSIGN_OR_RETURN(const SharedModel general, models.get(task, model));
  const ArtifactInfo& info = general.info;
  FP_ASSIGN_OR_RETURN(PrivateData data, config_.data());
  meter_.load_wall_us += micros_since(loading);
  agent::BaselineSettings baselines{
      config_.baselines.finetune_epochs, config_.baselines.finetune_learning_rate,
      config_.baselines.finetune_last_layer_only, config_.baselines.finetune_learning_rates,
      config_.baselines.finetune_max_epochs};
  FP_ASSIGN_OR_RETURN(PersonalizeConfig config, agent::personalize_config_for(task, baselines));
  FP_RETURN_IF_ERROR(resolve_spread_threshold(info.meta, config.prune));

  auto started = Clock::now();
  const double cpu = thread_cpu_seconds();
  auto result = personalize(*general.model, data.adaptation, data.evaluation, config);
  meter_.compute_cpu_us += static_cast<int64_t>(1e6 * (thread_cpu_seconds() - cpu));
  meter_.compute_wall_us += micros_since(started);
  if (!result.ok()) return result.status();
  return agent::telemetry_reports(task, config, *result, peak_rss_bytes());
}

NullRunner::Outcome NullRunner::run(const proto::TaskAssignment& task,
                                    const agent::ModelSource& model,
                                    const std::atomic<bool>& cancel) {
  if (!pool_.run([] {}, cancel)) return Status::unavailable("agent stopping");
  ++meter_.tasks;
  std::vector<proto::TelemetryReport> out;
  proto::TelemetryReport r;
  r.method = kFinePruneMethod;
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
