// Rows of the coordinator's SQLite store, as plain structs. Times are Unix seconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fp::store {

struct AgentRecord {
  std::string agent_id;
  double first_seen = 0, last_seen = 0;
  int64_t threads = 0, memory_mb = 0;
  std::string datasets_json = "[]";  // names of the private data sets it holds
  std::string status = "online";     // "online", "offline"
  std::string session_id;
};

struct ModelRecord {
  std::string sha256;  // content address
  int64_t size_bytes = 0;
  std::string spec_json;
  std::string meta_json = "{}";
  std::string path;  // models/<sha256>.fpm
  double created_at = 0;
};

struct CampaignRecord {
  int64_t id = 0;
  std::string name;
  std::string model_sha256;
  std::string dataset;
  std::string prune_config_json;
  std::string baselines_json = "[]";
  std::string sweep_targets_json = "[]";
  // When true, tasks are created for every individual an agent announces.
  bool open_enrollment = false;
  std::string status = "running";  // "running", "done"
  double created_at = 0;
};

struct TaskRecord {
  int64_t id = 0;
  int64_t campaign_id = 0;
  std::string individual;
  std::string status = "pending";  // "pending", "assigned", "done", "failed"
  std::string agent_id;            // empty unless assigned or finished
  int64_t attempts = 0;
  double assigned_at = 0, finished_at = 0;
  std::string error;
};

struct TelemetryRecord {
  int64_t id = 0;
  std::string idempotency_key;
  int64_t task_id = 0;
  int64_t campaign_id = 0;
  std::string agent_id;
  std::string method;
  std::string individual;
  double target_sparsity = 0, sparsity = 0, overall_sparsity = 0;
  std::string layer_sparsity_json = "[]";
  std::optional<double> accuracy_before, accuracy_after;  // null without local labels
  std::string curve_json = "[]";
  int64_t adaptation_samples = 0, eval_samples = 0;
  double wall_seconds = 0;
  int64_t macs_dense = 0, macs_effective = 0, peak_memory_bytes = 0;
  int64_t compute_macs = 0;  // spent producing the model on the device
  // The compact model (pruned units removed): parameters, artifact bytes; 0: unknown.
  int64_t compact_parameters = 0, compact_bytes = 0;
  double received_at = 0;
  // Differential-privacy noise the device added to the accuracies: "" (none),
  // "laplace" or "gaussian", with its epsilon (and delta) per value.
  std::string dp_mechanism;
  std::optional<double> dp_epsilon, dp_delta;
  // False for a device without labels: accuracies are null, the label-free figures speak.
  bool evaluated = true;
  std::optional<double> mean_confidence_before, mean_confidence_after, agreement;
  int64_t model_bytes = 0, skipped_files = 0;
};

// A CURVE public key allowed to connect; revoked keys stay listed with revoked_at.
struct AgentKeyRecord {
  std::string public_key;  // Z85
  std::string name;
  double enrolled_at = 0;
  std::optional<double> revoked_at;
};

struct EventRecord {
  int64_t id = 0;
  double at = 0;
  std::string kind;  // "join", "leave", "failure", "requeue", "reject", ...
  std::string agent_id;
  int64_t task_id = 0;  // 0 when not about a task
  std::string detail;
};

}  // namespace fp::store
