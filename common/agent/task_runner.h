// What an agent does with an assignment once the model is verified (on disk, or in
// memory: ModelSource).
// The agent owns the protocol; a runner owns the computation. The real one runs
// Fine-Pruning on the device's private data (fineprune_runner.h); tests and
// simulations can plug in others.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "agent/model_source.h"
#include "protocol/messages.h"
#include "util/status.h"

namespace fp::agent {

class TaskRunner {
 public:
  // One report per method (the agent fills in idempotency keys and task ids), or why not.
  using Outcome = Result<std::vector<proto::TelemetryReport>>;

  virtual ~TaskRunner() = default;
  // Runs on a worker thread. `cancel` turns true when the agent stops.
  virtual Outcome run(const proto::TaskAssignment& task, const ModelSource& model,
                      const std::atomic<bool>& cancel) = 0;
};

}  // namespace fp::agent
