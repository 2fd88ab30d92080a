// Agent: one task from assignment to acknowledged status.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/agent.h"
#include "agent/report_privacy.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/validate.h"
#include "util/memory.h"
#include "util/sha256.h"
#include "util/text.h"
#include "util/thread_name.h"

namespace fp::agent {

std::string Agent::key_for(const std::string& suffix) const {
  std::string key =
      config_.agent_id + ":" + std::to_string(task_ ? task_->task_id : 0) + ":" + suffix;
  // Keys must pass the coordinator's identifier check; long ones are hashed.
  proto::TaskStatus probe{key, 0, true, 0, ""};
  if (!proto::validate_agent_message(probe).ok()) key = sha256_hex(key);
  return key;
}

void Agent::start_download() {
  if (!task_) return;
  std::string dir = config_.downloads_in_memory
                        ? std::string()
                        : (std::filesystem::path(config_.work_dir) / "models").string();
  download_ =
      std::make_unique<ModelDownload>(task_->model_sha256, task_->model_size, dir, chunk_size_,
                                      chunk_credit_, config_.durable_downloads);
  if (kept_model_ && kept_model_sha_ == task_->model_sha256) download_->reuse(kept_model_);
  go_on_with_download(download_->start());
}

void Agent::go_on_with_download(const Status& started) {
  if (!started.ok() && download_into_memory(started)) return;
  if (!started.ok()) {
    return finish_task(false, "preparing the model download: " + started.message(), 0);
  }
  last_chunk_ = Clock::now();
  if (download_->done()) {
    spdlog::info("agent {}: model {} already verified, from an earlier download", config_.agent_id,
                 task_->model_sha256.substr(0, 12));
    return start_running();
  }
  pump_download();
}

bool Agent::download_into_memory(const Status& why) {
  if (!download_ || download_->in_memory() || why.code() != Status::Code::kIOError) return false;
  // Held twice while it is read into a model: half of what the machine has left at most.
  const uint64_t memory = available_memory_bytes();
  if (memory == 0 || task_->model_size > memory / 2) {
    spdlog::warn("agent {}: {}; nor room in memory for its {} bytes ({} available)",
                 config_.agent_id, why.message(), task_->model_size, memory);
    return false;
  }
  spdlog::warn(
      "agent {}: {}: downloading model {} into memory instead (not kept for later "
      "tasks on disk)",
      config_.agent_id, why.message(), task_->model_sha256.substr(0, 12));
  download_->discard_partial();
  download_ = std::make_unique<ModelDownload>(task_->model_sha256, task_->model_size, std::string(),
                                              chunk_size_, chunk_credit_);
  if (kept_model_ && kept_model_sha_ == task_->model_sha256) download_->reuse(kept_model_);
  go_on_with_download(download_->start());  // in memory: no room needed on disk
  return true;
}

void Agent::pump_download() {
  if (!download_ || !welcomed_) return;
  if (download_->all_received()) {
    Status v = download_->verify();
    if (v.ok()) {
      spdlog::info("agent {}: model {} downloaded and verified", config_.agent_id,
                   task_->model_sha256.substr(0, 12));
      return start_running();
    }
    if (download_into_memory(v)) return;  // no room to flush or rename it
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      ++stats_.download_restarts;
    }
    spdlog::warn("agent {}: {}", config_.agent_id, v.message());
    if (download_->restarts() > config_.max_download_restarts) {
      return finish_task(false,
                         "model failed verification " + std::to_string(download_->restarts()) +
                             " time(s): " + v.message(),
                         0);
    }
  }
  auto now = Clock::now();
  if (now - last_chunk_ > std::chrono::milliseconds(heartbeat_ms_) * config_.liveness) {
    download_->reset_in_flight();  // requests lost somewhere: ask again
    last_chunk_ = now;
  }
  for (auto& request : download_->next_requests()) send(request);
}

void Agent::start_running() {
  state_ = State::kRunning;
  ModelSource model = download_->source();
  if (model.in_memory()) {
    kept_model_ = model.bytes;
    kept_model_sha_ = task_->model_sha256;
  } else {
    const std::string dir = std::filesystem::path(model.path).parent_path().string();
    auto removed = trim_model_cache(dir, task_->model_sha256, config_.cached_models);
    if (!removed.ok())
      spdlog::warn("agent {}: model cache: {}", config_.agent_id, removed.status().to_string());
    if (removed.ok() && *removed > 0)
      spdlog::info(
          "agent {}: {} general model(s) used less recently removed from {} "
          "(--cached-models {})",
          config_.agent_id, *removed, dir, config_.cached_models);
  }
  proto::TaskAssignment task = *task_;
  task_done_ = false;
  auto job = [this, task = std::move(task), model]() -> TaskRunner::Outcome {
    TaskRunner::Outcome result = Status::internal("task runner did not return");
    try {
      result = runner_.run(task, model, cancel_);
    } catch (const std::exception& e) {
      result = Status::internal(std::string("task runner threw: ") + e.what());
    }
    task_done_ = true;
    wake_.notify();
    return result;
  };
  if (task_thread_) {
    auto packaged = std::make_shared<std::packaged_task<TaskRunner::Outcome()>>(std::move(job));
    result_ = packaged->get_future();
    task_thread_->post([packaged] { (*packaged)(); });
    return;
  }
  result_ = std::async(std::launch::async, [job = std::move(job)]() {
    set_thread_name("fp-task");
    return job();
  });
}

void Agent::collect_result() {
  auto result = result_.get();
  if (discard_run_) {
    discard_run_ = false;
    cancel_ = stop_.load();
    task_.reset();
    state_ = State::kIdle;
    if (next_task_) {
      proto::TaskAssignment next = std::move(*next_task_);
      next_task_.reset();
      on_assignment(next);
    }
    return;
  }
  if (cancel_) return;
  if (!result.ok()) return finish_task(false, result.status().to_string(), 0);
  auto reports = std::move(result).value();
  auto privacy = privacy_of(*task_);
  if (!privacy.ok()) {
    return finish_task(false, "the task's privacy settings: " + privacy.status().message(), 0);
  }
  for (size_t i = 0; i < reports.size(); ++i) {
    auto& r = reports[i];
    // On the device, before anything leaves it.
    add_privacy_noise(r, *privacy, report_seed(privacy_seed_, task_->task_id, i));
    r.task_id = task_->task_id;
    r.idempotency_key = key_for(std::to_string(i) + ":" + r.method);
    if (r.individual.empty()) r.individual = task_->individual;
    Status valid = proto::validate_agent_message(r);
    if (!valid.ok()) {
      return finish_task(false, "the task produced an invalid report: " + valid.message(), 0);
    }
  }
  const auto count = static_cast<uint32_t>(reports.size());
  if (config_.protocol_version >= 3 && count <= proto::kMaxTaskReports) {
    // One message and one Ack for the whole task, when it fits a frame.
    proto::TaskResult result{closing_status(true, "", count), std::move(reports)};
    std::string frame = proto::encode(result);
    if (frame.size() <= proto::kMaxAgentFrameBytes) {
      reports_in_result_ = count;
      return send_closing(std::move(frame));
    }
    reports = std::move(result.reports);
  }
  // One by one, each acknowledged, then the status (as version 2 agents do).
  std::vector<std::string> frames;
  for (size_t i = 0; i < reports.size(); ++i) {
    frames.push_back(proto::encode(reports[i]));
    if (frames.back().size() > proto::kMaxAgentFrameBytes) {
      return finish_task(false, "report " + std::to_string(i) + " exceeds the frame limit", 0);
    }
  }
  auto now = Clock::now();
  for (size_t i = 0; i < reports.size(); ++i) {
    outbox_.add(reports[i].idempotency_key, frames[i], now, task_database_);
    send_frame(std::move(frames[i]));
  }
  finish_task(true, "", count);
}

void Agent::abandon_task() {
  spdlog::warn("agent {}: task {} came from another coordinator database than this one: abandoned",
               config_.agent_id, task_->task_id);
  status_key_.clear();
  reports_in_result_ = 0;
  download_.reset();
  if (state_ == State::kRunning) {
    discard_run_ = true;  // the worker returns in its own time; collect_result drops it
    cancel_ = true;
    return;
  }
  task_.reset();
  state_ = State::kIdle;
}

void Agent::finish_task(bool ok, const std::string& reason, uint32_t reports) {
  if (!task_) return;
  // The device's own log keeps the whole reason, paths included (the coordinator's has not).
  if (!ok) spdlog::warn("agent {}: task {} failed: {}", config_.agent_id, task_->task_id, reason);
  send_closing(proto::encode(closing_status(ok, reason, reports)));
}

proto::TaskStatus Agent::closing_status(bool ok, const std::string& reason, uint32_t reports) {
  status_key_ = key_for("status");
  status_ok_ = ok;
  reports_in_result_ = 0;
  // No folder or file of the device leaves it; the whole reason is in the device's log.
  // (A success has no reason: nothing to look through, and every virtual agent's status
  // resolved its folders' absolute forms for nothing.)
  std::string why;
  if (!reason.empty()) {
    std::vector<LocalPath> local = config_.local_paths;
    local.push_back({config_.work_dir, "<work folder>"});
    // The coordinator refuses control characters and invalid UTF-8 (a forged log line).
    why = clean_text(without_local_paths(reason, local), proto::kMaxReasonBytes);
  }
  return proto::TaskStatus{status_key_, task_->task_id, ok, reports, why};
}

void Agent::send_closing(std::string frame) {
  outbox_.add(status_key_, frame, Clock::now(), task_database_, task_->task_id);
  send_frame(std::move(frame));
  state_ = State::kReporting;
}

}  // namespace fp::agent
