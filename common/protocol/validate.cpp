#include "protocol/validate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>

#include "protocol/limits.h"
#include "util/text.h"

namespace fp::proto {
namespace {

Status bad(const char* message, const std::string& field, const std::string& why) {
  return Status::protocol(std::string(message) + "." + field + ": " + why);
}

Status check_text(const char* message, const char* field, const std::string& value,
                  size_t max_bytes, bool required) {
  if (required && value.empty()) return bad(message, field, "is empty");
  if (value.size() > max_bytes) {
    return bad(message, field,
               std::to_string(value.size()) + " bytes exceed " + std::to_string(max_bytes));
  }
  // Stored and logged: valid UTF-8 only (readers such as JSON export depend on it), and
  // no control characters (a newline would forge a log line, ESC drive a terminal).
  std::string problem = text_problem(value);
  if (!problem.empty()) return bad(message, field, problem);
  return Status::ok_status();
}

// SQLite integers are signed 64-bit: a larger count would be stored negative.
constexpr uint64_t kMaxStoredInteger = static_cast<uint64_t>(INT64_MAX);

Status check_count(const char* message, const char* field, uint64_t v) {
  if (v > kMaxStoredInteger) return bad(message, field, "exceeds 2^63 - 1");
  return Status::ok_status();
}

// Identifiers become file names and SQL keys: a conservative character set.
Status check_id(const char* message, const char* field, const std::string& value) {
  FP_RETURN_IF_ERROR(check_text(message, field, value, kMaxIdBytes, true));
  for (char c : value) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
              c == ':' || c == '@' || c == '/' || c == '=' || c == '+';
    if (!ok) return bad(message, field, "contains a character outside [A-Za-z0-9-_.:@/=+]");
  }
  return Status::ok_status();
}

Status check_unit(const char* message, const std::string& field, double v) {
  if (!std::isfinite(v) || v < 0.0 || v > 1.0) {
    return bad(message, field, "must be a finite number in [0, 1]");
  }
  return Status::ok_status();
}

Status check_hello(const Hello& m) {
  FP_RETURN_IF_ERROR(check_id("Hello", "agentId", m.agent_id));
  FP_RETURN_IF_ERROR(check_text("Hello", "instanceId", m.instance_id, kMaxIdBytes, false));
  const auto& sets = m.capabilities.datasets;
  if (sets.size() > kMaxDatasets) {
    return bad("Hello", "capabilities.datasets",
               std::to_string(sets.size()) + " entries exceed " + std::to_string(kMaxDatasets));
  }
  for (const auto& s : sets) {
    FP_RETURN_IF_ERROR(check_text("Hello", "capabilities.datasets[]", s, kMaxNameBytes, true));
  }
  FP_RETURN_IF_ERROR(check_count("Hello", "capabilities.memoryMb", m.capabilities.memory_mb));
  return check_count("Hello", "currentTaskId", m.current_task_id);
}

Status check_chunk_request(const ChunkRequest& m) {
  if (!is_sha256_hex(m.sha256)) return bad("ChunkRequest", "sha256", "is not 64 hex digits");
  if (m.length == 0 || m.length > kMaxChunkBytes) {
    return bad("ChunkRequest", "length", "must be in [1, " + std::to_string(kMaxChunkBytes) + "]");
  }
  return Status::ok_status();
}

Status check_report(const TelemetryReport& m) {
  const char* msg = "TelemetryReport";
  FP_RETURN_IF_ERROR(check_id(msg, "idempotencyKey", m.idempotency_key));
  FP_RETURN_IF_ERROR(check_count(msg, "taskId", m.task_id));
  FP_RETURN_IF_ERROR(check_text(msg, "method", m.method, kMaxNameBytes, true));
  FP_RETURN_IF_ERROR(check_text(msg, "individual", m.individual, kMaxNameBytes, false));
  FP_RETURN_IF_ERROR(check_unit(msg, "targetSparsity", m.target_sparsity));
  FP_RETURN_IF_ERROR(check_unit(msg, "sparsity", m.sparsity));
  FP_RETURN_IF_ERROR(check_unit(msg, "overallSparsity", m.overall_sparsity));
  if (m.evaluated) {
    FP_RETURN_IF_ERROR(check_unit(msg, "accuracyBefore", m.accuracy_before));
    FP_RETURN_IF_ERROR(check_unit(msg, "accuracyAfter", m.accuracy_after));
  }
  if (m.layers.size() > kMaxLayers) {
    return bad(msg, "layers",
               std::to_string(m.layers.size()) + " entries exceed " + std::to_string(kMaxLayers));
  }
  for (const auto& l : m.layers) {
    FP_RETURN_IF_ERROR(check_text(msg, "layers[].name", l.name, kMaxNameBytes, true));
    FP_RETURN_IF_ERROR(check_count(msg, "layers[].units", l.units));
    FP_RETURN_IF_ERROR(check_count(msg, "layers[].weights", l.weights));
    if (l.active_units > l.units) return bad(msg, "layers[" + l.name + "]", "activeUnits > units");
    if (l.zeroed_weights > l.weights) {
      return bad(msg, "layers[" + l.name + "]", "zeroedWeights > weights");
    }
  }
  if (m.curve.size() > kMaxCurvePoints) {
    return bad(
        msg, "curve",
        std::to_string(m.curve.size()) + " points exceed " + std::to_string(kMaxCurvePoints));
  }
  for (const auto& p : m.curve) {
    FP_RETURN_IF_ERROR(check_unit(msg, "curve[].target", p.target));
    FP_RETURN_IF_ERROR(check_unit(msg, "curve[].sparsity", p.sparsity));
    FP_RETURN_IF_ERROR(check_unit(msg, "curve[].accuracy", p.accuracy));
    FP_RETURN_IF_ERROR(check_count(msg, "curve[].macs", p.macs));
  }
  FP_RETURN_IF_ERROR(check_count(msg, "adaptationSamples", m.adaptation_samples));
  FP_RETURN_IF_ERROR(check_count(msg, "evalSamples", m.eval_samples));
  FP_RETURN_IF_ERROR(check_count(msg, "macsDense", m.macs_dense));
  FP_RETURN_IF_ERROR(check_count(msg, "peakMemoryBytes", m.peak_memory_bytes));
  FP_RETURN_IF_ERROR(check_count(msg, "computeMacs", m.compute_macs));
  FP_RETURN_IF_ERROR(check_count(msg, "compactParameters", m.compact_parameters));
  FP_RETURN_IF_ERROR(check_count(msg, "compactBytes", m.compact_bytes));
  FP_RETURN_IF_ERROR(check_count(msg, "modelBytes", m.model_bytes));
  FP_RETURN_IF_ERROR(check_count(msg, "skippedFiles", m.skipped_files));
  if (!std::isfinite(m.wall_seconds) || m.wall_seconds < 0) {
    return bad(msg, "wallSeconds", "must be a finite number >= 0");
  }
  if (m.macs_effective > m.macs_dense) return bad(msg, "macsEffective", "exceeds macsDense");
  FP_RETURN_IF_ERROR(check_unit(msg, "meanConfidenceBefore", m.mean_confidence_before));
  FP_RETURN_IF_ERROR(check_unit(msg, "meanConfidenceAfter", m.mean_confidence_after));
  FP_RETURN_IF_ERROR(check_unit(msg, "agreement", m.agreement));
  if (!m.privacy_mechanism.empty()) {
    if (m.privacy_mechanism != "laplace" && m.privacy_mechanism != "gaussian") {
      return bad(msg, "privacyMechanism", "must be empty, laplace or gaussian");
    }
    if (!std::isfinite(m.privacy_epsilon) || m.privacy_epsilon <= 0) {
      return bad(msg, "privacyEpsilon", "must be a finite number > 0 with a mechanism");
    }
    if (!std::isfinite(m.privacy_delta) || m.privacy_delta < 0 || m.privacy_delta >= 1) {
      return bad(msg, "privacyDelta", "must be in [0, 1)");
    }
  }
  return Status::ok_status();
}

Status check_status(const TaskStatus& m) {
  FP_RETURN_IF_ERROR(check_id("TaskStatus", "idempotencyKey", m.idempotency_key));
  FP_RETURN_IF_ERROR(check_count("TaskStatus", "taskId", m.task_id));
  return check_text("TaskStatus", "reason", m.reason, kMaxReasonBytes, false);
}

Status check_result(const TaskResult& m) {
  FP_RETURN_IF_ERROR(check_status(m.status));
  if (m.reports.size() > kMaxTaskReports) {
    return bad(
        "TaskResult", "reports",
        std::to_string(m.reports.size()) + " entries exceed " + std::to_string(kMaxTaskReports));
  }
  for (const auto& r : m.reports) {
    FP_RETURN_IF_ERROR(check_report(r));
    if (r.task_id != m.status.task_id) {
      return bad("TaskResult", "reports[].taskId",
                 "report for task " + std::to_string(r.task_id) + " in task " +
                     std::to_string(m.status.task_id) + "'s result");
    }
  }
  return Status::ok_status();
}

}  // namespace

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

const std::vector<MessageType>& agent_message_types() {
  static const std::vector<MessageType> types = {
      MessageType::kHello,           MessageType::kHeartbeat,  MessageType::kChunkRequest,
      MessageType::kTelemetryReport, MessageType::kTaskStatus, MessageType::kTaskResult,
      MessageType::kError,           MessageType::kGoodbye};
  return types;
}

bool allowed_from_agent(MessageType t) {
  const auto& types = agent_message_types();
  return std::find(types.begin(), types.end(), t) != types.end();
}

bool allowed_from_coordinator(MessageType t) {
  switch (t) {
    case MessageType::kWelcome:
    case MessageType::kReject:
    case MessageType::kTaskAssignment:
    case MessageType::kChunk:
    case MessageType::kAck:
    case MessageType::kHeartbeat:
    case MessageType::kError:
    case MessageType::kGoodbye:
      return true;
    default:
      return false;
  }
}

Status validate_agent_message(const Message& message) {
  MessageType t = type_of(message);
  if (!allowed_from_agent(t)) {
    return Status::protocol(std::string(type_name(t)) + " is never accepted from an agent");
  }
  switch (t) {
    case MessageType::kHello:
      return check_hello(std::get<Hello>(message));
    case MessageType::kChunkRequest:
      return check_chunk_request(std::get<ChunkRequest>(message));
    case MessageType::kHeartbeat:
      return check_count("Heartbeat", "taskId", std::get<Heartbeat>(message).task_id);
    case MessageType::kTelemetryReport:
      return check_report(std::get<TelemetryReport>(message));
    case MessageType::kTaskStatus:
      return check_status(std::get<TaskStatus>(message));
    case MessageType::kTaskResult:
      return check_result(std::get<TaskResult>(message));
    case MessageType::kError:
      return check_text("Error", "reason", std::get<Error>(message).reason, kMaxReasonBytes, false);
    case MessageType::kGoodbye:
      return check_text("Goodbye", "reason", std::get<Goodbye>(message).reason, kMaxReasonBytes,
                        false);
    default:
      return Status::ok_status();
  }
}

Status validate_chunk(const ChunkView& c) {
  if (c.data.size() > kMaxChunkBytes) return bad("Chunk", "data", "exceeds the chunk limit");
  if (c.offset > c.total_size || c.data.size() > c.total_size - c.offset) {
    return bad("Chunk", "offset", "chunk lies outside the model");
  }
  return Status::ok_status();
}

Status validate_coordinator_message(const Message& message) {
  MessageType t = type_of(message);
  if (!allowed_from_coordinator(t)) {
    return Status::protocol(std::string(type_name(t)) + " is never sent by a coordinator");
  }
  if (t == MessageType::kChunk)
    FP_RETURN_IF_ERROR(validate_chunk(view_of(std::get<Chunk>(message))));
  if (t == MessageType::kWelcome) {
    // Kept beside the device's unacknowledged messages (outbox files' header line).
    const auto& w = std::get<Welcome>(message);
    if (!w.database_id.empty())
      FP_RETURN_IF_ERROR(check_id("Welcome", "databaseId", w.database_id));
  }
  if (t == MessageType::kTaskAssignment) {
    const auto& a = std::get<TaskAssignment>(message);
    if (!is_sha256_hex(a.model_sha256)) {
      return bad("TaskAssignment", "modelSha256", "is not 64 hex digits");
    }
  }
  return Status::ok_status();
}

std::string idempotency_key_of(const Message& message) {
  std::string key;
  if (const auto* report = std::get_if<TelemetryReport>(&message)) key = report->idempotency_key;
  if (const auto* status = std::get_if<TaskStatus>(&message)) key = status->idempotency_key;
  if (const auto* result = std::get_if<TaskResult>(&message)) key = result->status.idempotency_key;
  // A key that is itself malformed would make the Error naming it malformed too.
  return check_id("", "", key).ok() ? key : "";
}

}  // namespace fp::proto
