// A TaskRunner for protocol tests: it "fine-prunes" nothing, but hashes the model
// (file or bytes) it was handed and answers with reports derived from the assignment, so
// tests can check what reached the agent and what reached SQLite.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>

#include "agent/model_download.h"
#include "agent/task_runner.h"

namespace fp::testing {

class FakeRunner : public agent::TaskRunner {
 public:
  std::atomic<int> runs{0};
  // Layers added to each report (200-byte names): 200 make a task's two reports too
  // large for one frame together, though each fits alone.
  std::atomic<size_t> extra_layers{0};
  std::atomic<int> in_memory_models{0};  // runs handed the model's bytes, not a file
  std::string method = "fine_prune";     // of its main report (set before the agent starts)

  // While closed, run() waits (to hold a task in progress).
  void close_gate() {
    std::lock_guard<std::mutex> lock(mutex_);
    gate_open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      gate_open_ = true;
    }
    cv_.notify_all();
  }
  std::set<std::string> model_hashes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return hashes_;
  }
  bool running() const { return running_; }

  Outcome run(const proto::TaskAssignment& task, const agent::ModelSource& model,
              const std::atomic<bool>& cancel) override {
    running_ = true;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!gate_open_ && !cancel) cv_.wait_for(lock, std::chrono::milliseconds(10));
    }
    ++runs;
    std::string hash;
    if (model.in_memory()) {
      hash = sha256_hex(*model.bytes);
      ++in_memory_models;
    } else {
      FP_ASSIGN_OR_RETURN(hash, sha256_file_hex(model.path));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      hashes_.insert(hash);
    }
    running_ = false;
    std::vector<proto::TelemetryReport> out;
    proto::TelemetryReport r;
    r.method = method;
    r.individual = task.individual;
    r.target_sparsity = 0.5;
    r.sparsity = 0.25 + 0.01 * static_cast<double>(task.individual.size());
    r.overall_sparsity = r.sparsity / 2;
    r.layers = {{"l1", 8, 4, 80, 40}, {"out", 10, 10, 100, 0}};
    for (size_t i = 0; i < extra_layers; ++i) {
      r.layers.push_back({std::to_string(i) + std::string(200, 'x'), 4, 4, 16, 0});
    }
    r.evaluated = true;
    r.accuracy_before = 0.5;
    r.accuracy_after = 0.75;
    for (double t : task.sweep_targets) r.curve.push_back({t, t, 1.0 - t / 2, 100});
    r.adaptation_samples = 40;
    r.eval_samples = 20;
    r.wall_seconds = 0.01;
    r.macs_dense = 1000;
    r.macs_effective = 600;
    r.peak_memory_bytes = 1 << 20;
    out.push_back(r);
    for (const auto& b : task.baselines) {
      proto::TelemetryReport base = r;
      base.method = b;
      base.sparsity = 0;
      base.overall_sparsity = 0;
      base.curve.clear();
      base.macs_effective = base.macs_dense;
      out.push_back(base);
    }
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool gate_open_ = true;
  std::atomic<bool> running_{false};
  std::set<std::string> hashes_;
};

}  // namespace fp::testing
