// The general models a host's virtual agents downloaded, parsed once for all of them.
// Every agent of a host downloads the same artifact into memory and verifies its SHA-256,
// as a device would; parsing those same bytes again per agent (0.08 ms alone, ~0.3 ms of
// a busy 2-core host's CPU for the benchmark's small CNN: docs/SIMULATIONS.md) was the
// same work repeated. personalize() only reads its general model (it works on copies), so
// tasks on several compute threads share one parsed model.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "agent/model_source.h"
#include "models/artifact.h"
#include "protocol/messages.h"
#include "util/status.h"
#include "util/text_memo.h"

namespace fp::sim {

struct SharedModel {
  std::shared_ptr<const PrunableNet> model;
  ArtifactInfo info;
};

class SharedModels {
 public:
  // Keeps the `capacity` models used most recently (0: none, each task parses its own).
  explicit SharedModels(size_t capacity = 4)
      : kept_(capacity > 0 ? std::make_unique<TextMemo<Result<SharedModel>>>(capacity) : nullptr) {}

  // The task's general model. Bytes in memory whose hash the download verified are parsed
  // the first time and shared after; a file, or bytes nobody verified, are parsed for
  // this task alone (agent::load_task_model). Either way the task's spec is checked.
  Result<SharedModel> get(const proto::TaskAssignment& task, const agent::ModelSource& source);

  size_t parses() const { return parses_; }  // artifacts parsed so far, kept or not

 private:
  std::unique_ptr<TextMemo<Result<SharedModel>>> kept_;  // by the download's SHA-256
  std::atomic<size_t> parses_{0};
};

}  // namespace fp::sim
