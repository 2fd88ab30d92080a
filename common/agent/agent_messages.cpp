// Agent: handling what the coordinator sends.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/validate.h"

namespace fp::agent {

std::optional<Agent::End> Agent::handle(const proto::Message& message) {
  const proto::MessageType type = proto::type_of(message);
  // The coordinator answers a Hello first with a Welcome, a Reject or an Error; anything
  // else before the Welcome was sent to the agent that had this connection before
  // (agent/connection_slot.h): an Ack, an assignment or a heartbeat of its session.
  if (!welcomed_ && type != proto::MessageType::kWelcome && type != proto::MessageType::kReject &&
      type != proto::MessageType::kError && type != proto::MessageType::kGoodbye) {
    spdlog::debug("agent {}: ignoring a {} before the Welcome", config_.agent_id,
                  proto::type_name(type));
    return std::nullopt;
  }
  switch (type) {
    case proto::MessageType::kWelcome:
      on_welcome(std::get<proto::Welcome>(message));
      break;
    case proto::MessageType::kReject:
      reject_reason_ = std::get<proto::Reject>(message).reason;
      spdlog::error("agent {}: rejected: {}", config_.agent_id, reject_reason_);
      return End::kRejected;
    case proto::MessageType::kTaskAssignment:
      on_assignment(std::get<proto::TaskAssignment>(message));
      break;
    case proto::MessageType::kChunk:
      on_chunk(proto::view_of(std::get<proto::Chunk>(message)));
      break;
    case proto::MessageType::kAck:
      on_ack(std::get<proto::Ack>(message));
      break;
    case proto::MessageType::kError:
      return on_error(std::get<proto::Error>(message));
    case proto::MessageType::kGoodbye: {
      const auto& bye = std::get<proto::Goodbye>(message);
      if (bye.no_task_left) {
        // Before the Welcome it was meant for this connection's previous agent; the
        // coordinator goes on either way, so it is no reason to reconnect.
        if (welcomed_ && config_.leave_when_done) {
          spdlog::info("agent {}: no task left for it: {}", config_.agent_id, bye.reason);
          no_task_left_ = true;
        }
        break;
      }
      spdlog::info("agent {}: coordinator said goodbye: {}", config_.agent_id, bye.reason);
      return End::kGoodbye;
    }
    default:  // Heartbeat: hearing it is all that matters
      break;
  }
  return std::nullopt;
}

void Agent::on_welcome(const proto::Welcome& m) {
  welcomed_ = true;
  no_task_left_ = false;  // said of an earlier session: this one's coordinator says it again
  heartbeat_ms_ = std::max<uint32_t>(m.heartbeat_ms, 10);
  uint32_t chunk = std::clamp<uint32_t>(m.chunk_size, 1, proto::kMaxChunkBytes);
  chunk_credit_ = std::clamp<uint32_t>(m.chunk_credit, 1, 256);
  last_heartbeat_ = Clock::now();
  spdlog::info("agent {}: welcomed (session {}, heartbeat {} ms)", config_.agent_id, m.session_id,
               heartbeat_ms_);
  if (!m.database_id.empty()) {
    // Made for another database (the coordinator started afresh): its task ids name other
    // tasks here, and a result for "task 1" would close this database's task 1.
    if (const size_t dropped = outbox_.drop_made_for_others(m.database_id)) {
      spdlog::warn(
          "agent {}: {} unacknowledged message(s) were made for another coordinator database "
          "than this one ({}): dropped, not resent",
          config_.agent_id, dropped, m.database_id);
    }
    if (task_ && !discard_run_ && !task_database_.empty() && task_database_ != m.database_id)
      abandon_task();
  }
  database_id_ = m.database_id;
  // Everything unacknowledged from before the reconnect goes again, in order.
  for (auto& f : outbox_.due(Clock::now(), std::chrono::milliseconds(0), true)) {
    send_frame(std::move(f));
  }
  if (state_ == State::kDownloading) {
    if (chunk != chunk_size_) {
      chunk_size_ = chunk;
      start_download();  // resumes from the whole chunks on disk
    } else if (download_) {
      download_->reset_in_flight();
    }
  }
  chunk_size_ = chunk;
}

void Agent::on_assignment(const proto::TaskAssignment& m) {
  if (task_ && discard_run_) {
    next_task_ = m;  // taken once the abandoned run returns
    return;
  }
  if (task_) {
    if (task_->task_id != m.task_id) {
      send(proto::Error{proto::ErrorCode::kBadRequest,
                        "busy with task " + std::to_string(task_->task_id), ""});
    }
    return;
  }
  spdlog::info("agent {}: task {} ({}/{}), model {} ({} bytes)", config_.agent_id, m.task_id,
               m.dataset, m.individual, m.model_sha256.substr(0, 12), m.model_size);
  task_ = m;
  task_database_ = database_id_;
  state_ = State::kDownloading;
  start_download();
}

void Agent::on_two_part_chunk(const proto::PeerFrame& frame) {
  auto chunk =
      proto::decode_chunk_parts(frame.payload.data(), frame.payload.size(), frame.tail.data(),
                                frame.tail.size(), proto::kMaxCoordinatorFrameBytes);
  Status valid = frame.extra_parts ? Status::protocol("extra frame parts")
                 : chunk.ok()      ? proto::validate_chunk(*chunk)
                                   : chunk.status();
  if (!valid.ok()) {
    spdlog::warn("agent {}: ignoring a bad frame from the coordinator: {}", config_.agent_id,
                 valid.message());
    return;
  }
  on_chunk(*chunk);
}

void Agent::on_chunk(const proto::ChunkView& m) {
  if (state_ != State::kDownloading || !download_) return;
  last_chunk_ = Clock::now();
  Status s = download_->on_chunk(m);
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    ++stats_.chunks_received;
    stats_.bytes_downloaded += static_cast<int64_t>(m.data.size());
  }
  if (s.code() == Status::Code::kIOError) {
    // The device cannot store the model (a full disk): fetching it again to the disk would
    // fail the same way, as fast as chunks arrive; in memory it needs no room there.
    if (download_into_memory(s)) return;
    return finish_task(false, "storing the model: " + s.message(), 0);
  }
  if (!s.ok()) {
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      ++stats_.download_restarts;
    }
    if (download_->restarts() > config_.max_download_restarts) {
      return finish_task(false,
                         "model download restarted " + std::to_string(download_->restarts()) +
                             " time(s): " + s.message(),
                         0);
    }
    spdlog::warn("agent {}: {}; fetching the model again", config_.agent_id, s.message());
  }
  pump_download();
}

void Agent::on_ack(const proto::Ack& m) {
  if (!outbox_.ack(m.idempotency_key)) return;
  if (m.idempotency_key == status_key_) {
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      // A TaskResult's reports: stored with the status (or before, by a lost attempt).
      (m.duplicate ? stats_.reports_duplicate : stats_.reports_acked) += reports_in_result_;
    }
    count_task_end(status_ok_);
    reports_in_result_ = 0;
    spdlog::info("agent {}: task {} closed", config_.agent_id, task_ ? task_->task_id : 0);
    status_key_.clear();
    task_.reset();
    download_.reset();
    state_ = State::kIdle;
    return;
  }
  std::lock_guard<std::mutex> lock(stats_mutex_);
  ++(m.duplicate ? stats_.reports_duplicate : stats_.reports_acked);
}

void Agent::count_task_end(bool ok) {
  int64_t ended = 0;
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    ++(ok ? stats_.tasks_done : stats_.tasks_failed);
    ended = stats_.tasks_done + stats_.tasks_failed;
  }
  if (config_.on_task_closed) config_.on_task_closed(ended);
}

std::optional<Agent::End> Agent::on_error(const proto::Error& m) {
  spdlog::warn("agent {}: coordinator error ({}): {}", config_.agent_id,
               proto::error_code_name(m.code), m.reason);
  if (m.code == proto::ErrorCode::kNotRegistered) return End::kLost;  // say Hello again
  if (m.ref == proto::kAgentIdInUse) return End::kLost;               // retry after backoff
  if (m.ref == proto::kCoordinatorFull) return End::kLost;            // likewise
  if (m.ref == proto::kKeySessions) return End::kLost;                // likewise
  if (!m.ref.empty() && outbox_.contains(m.ref) && m.code != proto::ErrorCode::kInternal) {
    // Refused for good (e.g. an unknown task): resending cannot help.
    outbox_.ack(m.ref);
    if (m.ref == status_key_) {
      // The task ended for this agent (its status refused for good: a report of it refused,
      // or none): counted, or an agent leaving after its tasks waited for it for ever.
      count_task_end(false);
      status_key_.clear();
      task_.reset();
      download_.reset();
      state_ = State::kIdle;
    }
  }
  if (m.code == proto::ErrorCode::kUnknownModel && state_ == State::kDownloading) {
    finish_task(false, "coordinator cannot serve model: " + m.reason, 0);
  }
  if (m.code == proto::ErrorCode::kTaskFailed && m.ref.rfind(proto::kFailedTaskRefPrefix, 0) == 0 &&
      !(task_ && proto::kFailedTaskRefPrefix + std::to_string(task_->task_id) == m.ref)) {
    // One of this individual's tasks ended without reaching this agent: it counts as ended,
    // so that an agent leaving after its tasks does not wait for it.
    count_task_end(false);
  }
  return std::nullopt;
}

}  // namespace fp::agent
