// What an agent does with an assignment once the model is verified on disk.
// The agent owns the protocol; a runner owns the computation. The real one runs
// Fine-Pruning on the device's private data (fineprune_runner.h); tests and
// simulations can plug in others.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "util/status.h"

namespace fp::agent {

class TaskRunner {
 public:
  // One report per method (the agent fills in idempotency keys and task ids), or why not.
  using Outcome = Result<std::vector<proto::TelemetryReport>>;
  using Done = std::function<void(Outcome)>;

  virtual ~TaskRunner() = default;

  // Runs the task on the calling thread. `cancel` turns true when the agent stops.
  virtual Outcome run(const proto::TaskAssignment& task, const std::string& model_path,
                      const std::atomic<bool>& cancel) = 0;

  // Runs the task off the caller's thread and hands its outcome to `done`, on the thread
  // that ran it; `done` is the last thing that thread does with the caller's state, so the
  // caller must stay until `done` has run or withdraw() returned true. The default runs
  // run() on a new, detached thread and keeps no state: agents may share the runner. A
  // runner with threads of its own overrides both (sim::SimRunner, one an agent, queues
  // the task on its host's compute pool: a simulated task starts no thread).
  virtual void start(const proto::TaskAssignment& task, const std::string& model_path,
                     const std::atomic<bool>& cancel, Done done);
  // Drops the started task if it has not begun to run: true when it was dropped (`done`
  // will not run), false when `done` has run or will. The default's task begins at once.
  virtual bool withdraw() { return false; }

 protected:
  // What `compute` returns, or an internal error naming what it threw: a task's outcome.
  static Outcome catching(const std::function<Outcome()>& compute);
};

}  // namespace fp::agent
