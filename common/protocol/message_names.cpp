#include "protocol/messages.h"

namespace fp::proto {

const char* type_name(MessageType t) {
  switch (t) {
    case MessageType::kHello:
      return "Hello";
    case MessageType::kWelcome:
      return "Welcome";
    case MessageType::kReject:
      return "Reject";
    case MessageType::kTaskAssignment:
      return "TaskAssignment";
    case MessageType::kChunkRequest:
      return "ChunkRequest";
    case MessageType::kChunk:
      return "Chunk";
    case MessageType::kTelemetryReport:
      return "TelemetryReport";
    case MessageType::kAck:
      return "Ack";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kError:
      return "Error";
    case MessageType::kTaskStatus:
      return "TaskStatus";
    case MessageType::kGoodbye:
      return "Goodbye";
    case MessageType::kTaskResult:
      return "TaskResult";
  }
  return "Unknown";
}

const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::kMalformed:
      return "malformed";
    case ErrorCode::kTooLarge:
      return "too-large";
    case ErrorCode::kNotAllowed:
      return "not-allowed";
    case ErrorCode::kNotRegistered:
      return "not-registered";
    case ErrorCode::kUnknownModel:
      return "unknown-model";
    case ErrorCode::kUnknownTask:
      return "unknown-task";
    case ErrorCode::kBadRequest:
      return "bad-request";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kTaskFailed:
      return "task-failed";
    case ErrorCode::kLimitExceeded:
      return "limit-exceeded";
  }
  return "unknown";
}

}  // namespace fp::proto
