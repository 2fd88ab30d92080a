// One complete, valid TelemetryReport with every field set to a distinct plausible value:
// the sample that protocol tests, network tests, fuzz seeds and benchmarks start from
// (and change what they need), so a new field is exercised everywhere at once.
#pragma once

#include <cstdint>
#include <string>

#include "experiment/methods.h"
#include "protocol/messages.h"

namespace fp::proto {

inline TelemetryReport sample_report(const std::string& key = "agent-1:7:fine_prune",
                                     uint64_t task_id = 7,
                                     const std::string& method = kFinePruneMethod) {
  TelemetryReport r;
  r.idempotency_key = key;
  r.task_id = task_id;
  r.method = method;
  r.individual = "speaker=jackson";
  r.target_sparsity = 0.5;
  r.sparsity = 0.49;
  r.overall_sparsity = 0.45;
  r.layers = {{"conv1", 16, 8, 144, 72}, {"fc", 10, 10, 1280, 0}};
  r.evaluated = true;
  r.accuracy_before = 0.81;
  r.accuracy_after = 0.93;
  r.curve = {{0.0, 0.0, 0.81, 1000}, {0.5, 0.49, 0.93, 510}};
  r.adaptation_samples = 250;
  r.eval_samples = 240;
  r.wall_seconds = 1.5;
  r.macs_dense = 1000;
  r.macs_effective = 510;
  r.peak_memory_bytes = 123456789;
  r.compute_macs = 123456789012;
  r.compact_parameters = 4321;
  r.compact_bytes = 20480;
  r.mean_confidence_before = 0.71;
  r.mean_confidence_after = 0.83;
  r.agreement = 0.96;
  r.model_bytes = 20736;
  r.skipped_files = 3;
  return r;
}

// A task's result as an agent sends it: three reports (fine_prune, finetune, svd) of
// task `task_id` under one status.
inline TaskResult sample_result(const std::string& agent = "agent-1", uint64_t task_id = 7) {
  const std::string prefix = agent + ":" + std::to_string(task_id) + ":";
  TaskResult t;
  t.status = TaskStatus{prefix + "status", task_id, true, 3, ""};
  for (const char* method : {kFinePruneMethod, "finetune", "svd"}) {
    t.reports.push_back(sample_report(prefix + method, task_id, method));
  }
  return t;
}

}  // namespace fp::proto
