// The task runner of a virtual agent. Between tasks it holds nothing: when a task
// comes it waits for a compute slot of its host's worker pool, then loads its own
// private data and the downloaded model, personalizes, and lets both go. So a
// host's memory follows the number of agents computing, not of agents connected.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/task_runner.h"
#include "simulation/scenario.h"

namespace fp::sim {

struct PrivateData;  // simulation/population.h
class SharedModels;  // simulation/shared_models.h

// Bounds how many agents of one host compute at once, and computes on its own threads:
// `slots` threads that live as long as the pool. An agent's task used to compute on the
// thread its agent started for it, so every task paid a thread's start and exit (its stack
// given back with madvise, which on a VM interrupts the other cores to flush their TLBs)
// and warmed LibTorch's per-thread state again: 0.5-0.7 ms of framework CPU an agent of
// the 10,000-agent benchmark (docs/SIMULATIONS.md).
//
// The threads lower their priority by `nice` (added to their nice value): an agent's
// compute is the bulk of a simulation, and the threads that answer messages and requests
// should not wait behind it when every core is busy (docs/SIMULATIONS.md).
class WorkerPool {
 public:
  explicit WorkerPool(int64_t slots, int nice = 0);
  ~WorkerPool();  // joins the threads once their jobs end; every run() must have returned
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `job` on a pool thread and returns when it has run (true), or false when
  // `cancel` turned true before a thread took it (it then never runs). Jobs start in the
  // order they came; what a job throws is thrown here, on the caller's thread.
  bool run(const std::function<void()>& job, const std::atomic<bool>& cancel);
  int64_t busy() const { return busy_; }

 private:
  struct Job;
  void work();

  std::mutex mutex_;
  std::condition_variable work_cv_;  // a job was queued, or quit_
  std::deque<Job*> queue_;
  bool quit_ = false;
  int nice_ = 0;
  std::atomic<int64_t> busy_{0};
  std::vector<std::thread> threads_;
};

// Where a host's compute time goes (summed over its agents), for the overhead figures.
struct ComputeMeter {
  std::atomic<int64_t> tasks{0}, failures{0};
  std::atomic<int64_t> compute_wall_us{0};  // inside personalize()
  std::atomic<int64_t> compute_cpu_us{0};   // thread CPU time inside personalize()
  // Thread CPU time of the whole task on its compute thread: personalize() and what it
  // needs around it (loading the model and private data, the settings, the reports).
  std::atomic<int64_t> job_cpu_us{0};
  std::atomic<int64_t> load_wall_us{0};  // loading private data and model
  std::atomic<int64_t> wait_wall_us{0};  // waiting for a compute slot
};

// Gives a virtual agent its individual's private data when a task computes: from the
// host's memory, or read from the agent's private data file (HostOptions).
using PrivateDataSource = std::function<Result<PrivateData>()>;

struct SimRunnerConfig {
  PrivateDataSource data;
  BaselineSection baselines;
  int64_t threads = 1;  // LibTorch threads while computing
  // The host's parsed general models, shared by its agents; null: each task parses its own.
  std::shared_ptr<SharedModels> models;
};

class SimRunner : public agent::TaskRunner {
 public:
  SimRunner(SimRunnerConfig config, WorkerPool& pool, ComputeMeter& meter)
      : config_(std::move(config)), pool_(pool), meter_(meter) {}

  Outcome run(const proto::TaskAssignment& task, const agent::ModelSource& model,
              const std::atomic<bool>& cancel) override;

 private:
  Outcome compute(const proto::TaskAssignment& task, const agent::ModelSource& model);

  SimRunnerConfig config_;
  WorkerPool& pool_;
  ComputeMeter& meter_;
};

// Answers every task at once with fixed reports (one per method asked for), holding a
// worker slot for no time: a campaign of these measures the framework alone (agents,
// downloads, coordinator, SQLite) without any Fine-Pruning.
class NullRunner : public agent::TaskRunner {
 public:
  NullRunner(WorkerPool& pool, ComputeMeter& meter) : pool_(pool), meter_(meter) {}
  Outcome run(const proto::TaskAssignment& task, const agent::ModelSource& model,
              const std::atomic<bool>& cancel) override;

 private:
  WorkerPool& pool_;
  ComputeMeter& meter_;
};

}  // namespace fp::sim
