// Agent: connecting, the per-connection poll loop, reconnecting with backoff.
#include "agent/agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "agent/backoff.h"
#include "protocol/codec.h"
#include "protocol/endpoint.h"
#include "protocol/framing.h"
#include "protocol/validate.h"
#include "util/random.h"

namespace fp::agent {

Agent::Agent(AgentConfig config, zmq::context_t& context, TaskRunner& runner)
    : config_(std::move(config)),
      context_(context),
      runner_(runner),
      outbox_(config_.outbox_dir),
      last_contact_(Clock::now()) {
  auto loaded = outbox_.load(Clock::now());
  if (!loaded.ok()) {
    spdlog::warn("agent {}: {}", config_.agent_id, loaded.status().message());
  } else if (*loaded > 0) {
    spdlog::info("agent {}: {} unacknowledged message(s) from an earlier run will be resent",
                 config_.agent_id, *loaded);
  }
  instance_id_ = fmt::format("{:016x}", random_u64());
  privacy_seed_ = config_.privacy_seed ? config_.privacy_seed : random_u64();
}

Agent::~Agent() { settle_task(); }

void Agent::settle_task() {
  cancel_ = true;
  if (result_.valid()) result_.wait();
}

uint64_t Agent::computing_task() const {
  return state_ == State::kRunning && task_ && !task_done_ ? task_->task_id : 0;
}

void Agent::stop() {
  stop_ = true;
  wake_.notify();
}

AgentStats Agent::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

Status Agent::run() {
  Backoff backoff(config_.reconnect_min, config_.reconnect_max);
  Status result;
  while (!stop_) {
    End end = session();
    if (end == End::kLost && !welcomed_) watch_handshake_ = true;
    if (end == End::kFinished && slot_ && socket_) {
      slot_->keep({config_.coordinator, std::move(socket_), std::move(monitor_)});
    }
    // A parting Goodbye gets a moment to leave; a lost connection gets none.
    if (socket_ && end != End::kLost) socket_->set(zmq::sockopt::linger, 500);
    monitor_.reset();
    socket_.reset();
    if (end == End::kRejected) {
      result = Status::protocol("coordinator rejected agent " + config_.agent_id + ": " +
                                reject_reason_);
      break;
    }
    if (end == End::kRefused) {
      result = Status::protocol("agent " + config_.agent_id + " cannot connect to " +
                                config_.coordinator + ": " + reject_reason_);
      break;
    }
    if (end == End::kStop || end == End::kFinished) break;
    if (end == End::kGoodbye && config_.leave_on_goodbye) break;
    // Its last task done, a coordinator that leaves first (Goodbye, lost) ends it too.
    if (max_tasks_reached()) break;
    if (gave_up()) {
      // Without an outbox folder (a simulation's virtual agent) they were only in memory:
      // "resent on the next start" promised what no start can do.
      result = Status::unavailable(fmt::format(
          "coordinator {} unreachable for {} s (give-up-after {} s): giving up; {} "
          "unacknowledged message(s) {}",
          config_.coordinator,
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - last_contact_).count(),
          std::chrono::duration_cast<std::chrono::seconds>(config_.give_up_after).count(),
          outbox_.size(),
          outbox_.dir().empty() ? "lost (kept in memory only: no outbox folder)"
          : outbox_.on_disk() == outbox_.size()
              ? "stay in " + outbox_.dir() + " and are resent on the next start"
              : fmt::format("of which {} stay in {} and are resent on the next start, {} lost "
                            "(they could not be written there)",
                            outbox_.on_disk(), outbox_.dir(), outbox_.size() - outbox_.on_disk())));
      break;
    }
    if (welcomed_) backoff.reset();
    auto delay = backoff.next();
    spdlog::info("agent {}: reconnecting in {} ms", config_.agent_id, delay.count());
    if (!wait_backoff(delay)) break;
  }
  // A task still running finishes (engine calls cannot be interrupted) but is not reported.
  // Stopped, its caller may leave without it (computing_task()); the destructor waits for it.
  cancel_ = true;
  if (!stop_) settle_task();
  return result;
}

uint64_t Agent::current_task_id() const {
  if (discard_run_) return next_task_ ? next_task_->task_id : 0;  // the old one is let go
  if (task_) return task_->task_id;
  // An earlier run's result still undelivered (a restart): the task stays this agent's
  // until the coordinator acknowledges it, as a running one would.
  return outbox_.closing_task();
}

bool Agent::max_tasks_reached() const {
  if (state_ != State::kIdle || config_.max_tasks <= 0) return false;
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_.tasks_done + stats_.tasks_failed >= config_.max_tasks;
}

bool Agent::gave_up() const {
  return config_.give_up_after.count() > 0 && Clock::now() - last_contact_ > config_.give_up_after;
}

bool Agent::wait_backoff(std::chrono::milliseconds delay) {
  auto until = Clock::now() + delay;
  while (Clock::now() < until) {
    if (stop_ || gave_up()) return !stop_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return !stop_;
}

// Opens a new connection (socket_, and its handshake monitor where one is kept).
std::optional<Agent::End> Agent::connect() {
  if (Status endpoint = proto::check_endpoint(config_.coordinator, proto::EndpointUse::kConnect);
      !endpoint.ok()) {
    reject_reason_ = endpoint.message();
    return End::kRefused;
  }
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  proto::configure_dealer(*socket_);
  Status secured = security::apply_client_security(*socket_, config_.security);
  if (!secured.ok()) {
    reject_reason_ = secured.message();
    return End::kRefused;
  }
  // A handshake that cannot finish (e.g. a wrong coordinator key) is abandoned when
  // the Welcome is overdue anyway.
  socket_->set(zmq::sockopt::handshake_ivl, static_cast<int>(config_.hello_timeout.count()));
  // A plain session watches its handshake only after one ended without a Welcome: the
  // monitor is two more sockets and their events per connection, 9-14 % of a simulation's
  // system calls, and a plain agent's handshake fails only against a CURVE
  // coordinator, which the next session then reports at once (docs/SIMULATIONS.md).
  if (!config_.security.plain || watch_handshake_) {
    monitor_ = std::make_unique<security::HandshakeMonitor>(context_, *socket_);
  }
  handshake_ok_ = false;
  handshake_warned_ = false;
  try {
    socket_->connect(config_.coordinator);
  } catch (const zmq::error_t& e) {
    spdlog::error("agent {}: connecting to {}: {}", config_.agent_id, config_.coordinator,
                  e.what());
    // Not an endpoint ZeroMQ can connect to (a typo, an unknown transport): retrying
    // cannot help. Anything else is taken as a passing failure.
    if (e.num() == EINVAL || e.num() == EPROTONOSUPPORT || e.num() == ENOCOMPATPROTO) {
      reject_reason_ = std::string("not an endpoint to connect to (") + e.what() +
                       "); endpoints look like tcp://host:5555";
      return End::kRefused;
    }
    return End::kLost;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    ++stats_.connects;
  }
  return std::nullopt;
}

Agent::End Agent::session() {
  welcomed_ = false;
  if (auto kept = slot_ ? slot_->take(config_.coordinator) : std::nullopt) {
    socket_ = std::move(kept->socket);
    monitor_ = std::move(kept->monitor);
    handshake_ok_ = true;                   // it carried the previous agent's session
    socket_->set(zmq::sockopt::linger, 0);  // configure_dealer's again; keep() raised it
    std::lock_guard<std::mutex> lock(stats_mutex_);
    ++stats_.connections_taken_over;
  } else if (auto end = connect()) {
    return *end;
  }
  auto started = Clock::now();
  last_heard_ = started;
  proto::Hello hello{config_.agent_id,
                     config_.protocol_version,
                     {config_.threads, config_.memory_mb, config_.datasets},
                     current_task_id(),
                     instance_id_,
                     config_.leave_when_done};
  send(hello);

  while (true) {
    if (stop_) {
      send(proto::Goodbye{"agent stopping"});
      return End::kStop;
    }
    // Sleeps until a frame, a handshake event, the task's end or stop() (the wake
    // descriptor), or the next deadline: no fixed tick (docs/SIMULATIONS.md).
    const bool monitored = monitor_ && monitor_->active();
    zmq::pollitem_t items[] = {
        {socket_->handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, wake_.fd(), ZMQ_POLLIN, 0},
        {monitored ? monitor_->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, monitored ? 3 : 2, sleep_budget(Clock::now(), started));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return End::kLost;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mutex_);
      ++stats_.loop_passes;
    }
    if (items[1].revents & ZMQ_POLLIN) wake_.drain();
    if (items[2].revents & ZMQ_POLLIN) {
      if (auto end = check_handshake()) return *end;
    }
    proto::PeerFrame frame;
    while ((items[0].revents & ZMQ_POLLIN) &&
           proto::recv_from_dealer(*socket_, frame, /*wait=*/false)) {
      last_heard_ = Clock::now();
      last_contact_ = last_heard_;
      // Model chunks are read in place: their bytes go from the frame to the file. Before
      // the Welcome they can only be for the agent that used this connection before.
      if (frame.has_tail) {
        if (welcomed_) on_two_part_chunk(frame);
        continue;
      }
      auto chunk = proto::decode_chunk_view(frame.payload.data(), frame.payload.size(),
                                            proto::kMaxCoordinatorFrameBytes);
      if (chunk.ok() && chunk->has_value() && !frame.extra_parts &&
          proto::validate_chunk(**chunk).ok()) {
        if (welcomed_) on_chunk(**chunk);
        continue;
      }
      auto decoded = proto::decode(frame.payload.data(), frame.payload.size(),
                                   proto::kMaxCoordinatorFrameBytes);
      Status valid =
          decoded.ok() ? proto::validate_coordinator_message(*decoded) : decoded.status();
      if (!valid.ok() || frame.extra_parts) {
        spdlog::warn("agent {}: ignoring a bad frame from the coordinator: {}", config_.agent_id,
                     frame.extra_parts ? "extra frame parts" : valid.message());
        continue;
      }
      if (auto end = handle(*decoded)) return *end;
    }

    auto now = Clock::now();
    if (!welcomed_) {
      if (now - started > config_.hello_timeout) {
        if (handshake_ok_ || config_.security.plain) {
          spdlog::warn("agent {}: no Welcome from {} within {} ms", config_.agent_id,
                       config_.coordinator, config_.hello_timeout.count());
        } else {
          spdlog::warn(
              "agent {}: CURVE handshake with {} did not complete within {} ms: handshake "
              "failed or coordinator unreachable (not enrolled? wrong coordinator public key? "
              "a plain coordinator?)",
              config_.agent_id, config_.coordinator, config_.hello_timeout.count());
        }
        return End::kLost;
      }
      continue;
    }
    auto beat = std::chrono::milliseconds(heartbeat_ms_);
    if (now - last_heard_ > beat * config_.liveness) {
      spdlog::warn(
          "agent {}: coordinator silent for {} ms", config_.agent_id,
          std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard_).count());
      return End::kLost;
    }
    if (now - last_heartbeat_ >= beat) {
      send(proto::Heartbeat{current_task_id()});
      last_heartbeat_ = now;
    }
    for (auto& f : outbox_.due(now, config_.resend_after)) send_frame(std::move(f));
    if (state_ == State::kDownloading) pump_download();
    // task_done_ is set just before the worker returns: get() waits no longer than that.
    if (state_ == State::kRunning && result_.valid() && task_done_) collect_result();
    if (max_tasks_reached()) {
      send(proto::Goodbye{"finished " + std::to_string(config_.max_tasks) + " task(s)"});
      return End::kFinished;
    }
    // Told while idle; an unacknowledged message of its own keeps it until answered.
    if (no_task_left_ && state_ == State::kIdle && outbox_.empty()) {
      send(proto::Goodbye{"no task left for it"});
      std::lock_guard<std::mutex> lock(stats_mutex_);
      stats_.no_task_left = true;
      return End::kFinished;
    }
  }
}

std::chrono::milliseconds Agent::sleep_budget(Clock::time_point now,
                                              Clock::time_point started) const {
  // A ceiling in case a condition is missing below; every deadline the loop acts on is.
  constexpr auto kMaxSleep = std::chrono::milliseconds(250);
  auto until = now + kMaxSleep;
  auto sooner = [&until](Clock::time_point t) { until = std::min(until, t); };
  if (!welcomed_) {
    sooner(started + config_.hello_timeout);
  } else if (heartbeat_ms_ > 0) {
    const auto beat = std::chrono::milliseconds(heartbeat_ms_);
    sooner(last_heartbeat_ + beat);
    sooner(last_heard_ + beat * config_.liveness);
    if (state_ == State::kDownloading) sooner(last_chunk_ + beat * config_.liveness);
    if (auto due = outbox_.next_due(config_.resend_after)) sooner(*due);
  }
  // At least 1 ms: a deadline just reached is checked with ">", so the next pass acts.
  return std::clamp(std::chrono::ceil<std::chrono::milliseconds>(until - now),
                    std::chrono::milliseconds(1), kMaxSleep);
}

// Handshake outcomes: a refusal that retrying cannot fix ends the agent with the
// reason; anything else is logged and left to the Welcome timeout and reconnects.
std::optional<Agent::End> Agent::check_handshake() {
  while (monitor_) {
    auto e = monitor_->next();
    if (!e) break;
    if (e->kind == security::HandshakeEvent::Kind::kSucceeded) {
      handshake_ok_ = true;
      continue;
    }
    if (e->definitive()) {
      reject_reason_ = e->describe();
      spdlog::error("agent {}: {}", config_.agent_id, reject_reason_);
      return End::kRefused;
    }
    if (!handshake_warned_) spdlog::warn("agent {}: {}", config_.agent_id, e->describe());
    handshake_warned_ = true;
  }
  return std::nullopt;
}

void Agent::send(const proto::Message& message) { send_frame(proto::encode(message)); }

void Agent::send_frame(std::string frame) {
  if (!socket_) return;
  Status s = proto::send_frame(*socket_, std::move(frame));
  if (!s.ok()) spdlog::debug("agent {}: send failed: {}", config_.agent_id, s.message());
}

}  // namespace fp::agent
