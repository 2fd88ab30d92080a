// Plain C++ forms of the wire messages (schema/fineprune.capnp). The codec turns
// frames into these completely, so nothing downstream touches Cap'n Proto readers
// (whose accessors can throw on damaged input).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fp::proto {

struct Capabilities {
  uint32_t threads = 0;
  uint64_t memory_mb = 0;
  std::vector<std::string> datasets;  // "dataset/individual" names, never data
};

struct Hello {
  std::string agent_id;
  uint32_t protocol_version = 0;
  Capabilities capabilities;
  uint64_t current_task_id = 0;
  std::string instance_id;        // random per agent process; empty from agents that predate it
  bool leaves_when_done = false;  // told when no task is left on its data (Goodbye)
};

struct Welcome {
  std::string session_id;
  uint32_t heartbeat_ms = 0;
  uint32_t chunk_size = 0;
  uint32_t chunk_credit = 0;
  std::string database_id;  // "" from coordinators that predate it
};

struct Reject {
  std::string reason;
  uint32_t supported_version = 0;
};

struct TaskAssignment {
  uint64_t task_id = 0;
  uint64_t campaign_id = 0;
  std::string model_sha256;
  uint64_t model_size = 0;
  std::string model_spec_json;
  std::string prune_config_json;
  std::string dataset;
  std::string individual;
  std::vector<std::string> baselines;
  std::vector<double> sweep_targets;
};

struct ChunkRequest {
  std::string sha256;
  uint64_t offset = 0;
  uint32_t length = 0;
};

struct Chunk {
  std::string sha256;
  uint64_t offset = 0;
  uint64_t total_size = 0;
  std::string data;
};

// A Chunk read in place (decode_chunk_view): the views point into the received frame
// and live as long as it does, so a model's bytes are not copied out of the frame.
struct ChunkView {
  std::string_view sha256;
  uint64_t offset = 0;
  uint64_t total_size = 0;
  std::string_view data;
};
inline ChunkView view_of(const Chunk& c) { return {c.sha256, c.offset, c.total_size, c.data}; }

struct LayerSparsityEntry {
  std::string name;
  uint64_t units = 0, active_units = 0, weights = 0, zeroed_weights = 0;
};

struct CurvePointEntry {
  double target = 0, sparsity = 0, accuracy = 0;
  uint64_t macs = 0;
};

struct TelemetryReport {
  std::string idempotency_key;
  uint64_t task_id = 0;
  std::string method;
  std::string individual;
  double target_sparsity = 0;
  double sparsity = 0;
  double overall_sparsity = 0;
  std::vector<LayerSparsityEntry> layers;
  bool evaluated = false;
  double accuracy_before = 0;
  double accuracy_after = 0;
  std::vector<CurvePointEntry> curve;
  uint64_t adaptation_samples = 0;
  uint64_t eval_samples = 0;
  double wall_seconds = 0;
  uint64_t macs_dense = 0;
  uint64_t macs_effective = 0;
  uint64_t peak_memory_bytes = 0;
  std::string privacy_mechanism;  // "" (no noise), "laplace", "gaussian"
  double privacy_epsilon = 0;
  double privacy_delta = 0;
  uint64_t compute_macs = 0;        // spent producing the model (forward/backward passes)
  uint64_t compact_parameters = 0;  // of the compact model (models/compact.h); 0: unknown
  uint64_t compact_bytes = 0;       // the compact model's artifact size, as measured
  // Label-free aggregates over the held-out slice (see the schema).
  double mean_confidence_before = 0;
  double mean_confidence_after = 0;
  double agreement = 0;
  uint64_t model_bytes = 0;  // the personalized model kept on the device (0: none kept)
  uint64_t skipped_files = 0;
};

struct TaskStatus {
  std::string idempotency_key;
  uint64_t task_id = 0;
  bool ok = false;
  uint32_t reports = 0;
  std::string reason;
};

// A task's reports and its status in one message (protocol 3; see the schema).
struct TaskResult {
  TaskStatus status;
  std::vector<TelemetryReport> reports;
};

struct Ack {
  std::string idempotency_key;
  bool duplicate = false;
};

struct Heartbeat {
  uint64_t task_id = 0;
};

// Mirrors wire::ErrorCode.
enum class ErrorCode {
  kMalformed,
  kTooLarge,
  kNotAllowed,
  kNotRegistered,
  kUnknownModel,
  kUnknownTask,
  kBadRequest,
  kInternal,
  kTaskFailed,
  kLimitExceeded,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string reason;
  std::string ref;  // idempotency key or model hash the error is about
};

struct Goodbye {
  std::string reason;
  bool no_task_left = false;  // coordinator to a leaves_when_done agent: nothing left for it
};

// Alternatives in the order of the schema's Envelope union.
using Message =
    std::variant<Hello, Welcome, Reject, TaskAssignment, ChunkRequest, Chunk, TelemetryReport, Ack,
                 Heartbeat, Error, TaskStatus, Goodbye, TaskResult>;

enum class MessageType {
  kHello,
  kWelcome,
  kReject,
  kTaskAssignment,
  kChunkRequest,
  kChunk,
  kTelemetryReport,
  kAck,
  kHeartbeat,
  kError,
  kTaskStatus,
  kGoodbye,
  kTaskResult,
};

inline MessageType type_of(const Message& m) { return static_cast<MessageType>(m.index()); }
const char* type_name(MessageType t);
const char* error_code_name(ErrorCode c);

}  // namespace fp::proto
