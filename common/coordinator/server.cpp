// Server: the poll loop, ticks (heartbeats and liveness), flushing and shutdown.
#include "coordinator/server.h"

#include <spdlog/spdlog.h>

#include "protocol/codec.h"
#include "protocol/framing.h"

namespace fp::coord {

Server::Server(ServerConfig config, zmq::context_t& context, store::Store& store,
               ModelRegistry& registry)
    : config_(std::move(config)),
      policy_(config_.policy ? config_.policy
                             : std::make_shared<FirstPendingPolicy>(config_.max_attempts)),
      context_(context),
      store_(store),
      registry_(registry),
      router_(context, zmq::socket_type::router) {
  proto::configure_router(router_);
  // Model chunks are bounded by the coordinator's own credit accounting (ChunkAccount);
  // this bounds every other message queued for one peer (Acks, Errors, heartbeats: each
  // at most about 1 KiB). One flush may Ack a whole telemetry batch to one peer, so the
  // queue holds that and 1000 more. A peer whose queue fills is not reading: dropped.
  router_.set(zmq::sockopt::sndhwm, static_cast<int>(config_.telemetry_batch + 1000));
  router_.set(zmq::sockopt::rcvhwm, 1000);
  // A connection that has not finished its handshake by then is closed, so half-open
  // connections cannot pile up.
  router_.set(zmq::sockopt::handshake_ivl, 10000);
}

Server::~Server() = default;

// The ZAP handler is bound before the CURVE socket, so no client is ever admitted
// without its key being checked.
Status Server::bind_security() {
  if (config_.security.plain || zap_) return Status::ok_status();
  const auto& keys = config_.security.own;
  if (keys.public_key.empty() || keys.secret_key.empty()) {
    return Status::invalid_argument(
        "the coordinator has no CURVE key pair: create one with 'fp-coordinator keygen' (or "
        "ask for plain mode explicitly)");
  }
  FP_ASSIGN_OR_RETURN(
      zap_, security::ZapHandler::bind(context_, [this](const security::ZapRequest& r) {
        auto d = security::enrolled_key_policy(
            r, security::kZapDomain,
            [this](const std::string& key) { return store_.enrolled_key_name(key); });
        if (!d.admit) note_refused_handshake(r, d);
        return d;
      }));
  FP_RETURN_IF_ERROR(security::make_curve_server(router_, keys));
  monitor_ = std::make_unique<security::HandshakeMonitor>(context_, router_);
  return Status::ok_status();
}

Status Server::bind() {
  FP_RETURN_IF_ERROR(bind_security());
  try {
    router_.bind(config_.endpoint);
    bound_endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::unavailable("binding " + config_.endpoint + ": " + e.what());
  }
  if (config_.security.plain) {
    spdlog::warn(
        "coordinator on {} in PLAIN mode: no encryption and no authentication; any agent that "
        "can reach it may connect (asked for explicitly)",
        bound_endpoint_);
  } else {
    spdlog::info("coordinator on {} uses CURVE; public key {}", bound_endpoint_,
                 config_.security.own.public_key);
  }
  return Status::ok_status();
}

double Server::now() const {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

void Server::request_stop() {
  if (waker_) waker_->request_stop();
}

Status Server::run() {
  if (bound_endpoint_.empty()) FP_RETURN_IF_ERROR(bind());
  waker_ = std::make_unique<LoopWaker>(context_, std::chrono::milliseconds(config_.heartbeat_ms),
                                       config_.handle_signals);
  // Tasks a previous run left assigned go back to the queue; agents still working on
  // one reclaim it in their Hello.
  FP_ASSIGN_OR_RETURN(int64_t orphaned, store_.requeue_all_assigned());
  if (orphaned > 0) spdlog::info("requeued {} task(s) left assigned by a previous run", orphaned);
  event("coordinator-start", "", 0, bound_endpoint_);
  FP_RETURN_IF_ERROR(flush());
  spdlog::info("coordinator serving on {}", bound_endpoint_);
  if (config_.exit_when_done && all_campaigns_finished()) stopping_ = true;

  while (!stopping_ && failure_.ok()) {
    zmq::pollitem_t items[] = {
        {router_.handle(), 0, ZMQ_POLLIN, 0},
        {waker_->socket().handle(), 0, ZMQ_POLLIN, 0},
        {zap_ ? zap_->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0},
        {monitor_ ? monitor_->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    // Chunk requests waiting for a peer's queue to drain are looked at every millisecond.
    auto wait = std::chrono::milliseconds(waiting_requests_ ? 1 : -1);
    try {
      zmq::poll(items, monitor_ ? 4 : (zap_ ? 3 : 2), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return Status::internal(std::string("poll: ") + e.what());
    }
    if (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t note;
      while (waker_->socket().recv(note, zmq::recv_flags::dontwait)) {
        char what = note.size() ? *static_cast<const char*>(note.data()) : 0;
        if (what == LoopWaker::kStop) {
          spdlog::info("stop requested");
          stopping_ = true;
        } else {
          begin_burst();
          on_tick();
        }
      }
    }
    if (zap_ && (items[2].revents & ZMQ_POLLIN)) zap_->handle_pending();
    if (monitor_ && (items[3].revents & ZMQ_POLLIN)) {
      while (auto e = monitor_->next()) {
        if (e->kind == security::HandshakeEvent::Kind::kSucceeded) continue;
        ++stats_.handshakes_failed;
        // ZAP refusals are logged by the handler, with the key.
        uint64_t held = 0;
        if (e->kind != security::HandshakeEvent::Kind::kFailedAuth && handshake_log_.due(held)) {
          spdlog::warn("a client failed the CURVE handshake on {}: {}{}", bound_endpoint_,
                       e->kind == security::HandshakeEvent::Kind::kFailedProtocol &&
                               e->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                           ? "it is not using CURVE (a plain agent?)"
                           : e->describe(),
                       held ? fmt::format(" ({} more since the last such line)", held) : "");
        }
      }
    }
    if (items[0].revents & ZMQ_POLLIN) drain_router();
    if (waiting_requests_) serve_waiting_chunks();
    Status s = burst_ ? end_burst() : flush();
    drop_unreadable_peers();
    if (!s.ok()) failure_ = s;
  }
  shutdown();
  waker_.reset();
  return failure_;
}

// Handles every frame already queued (up to one telemetry batch), so one flush
// commits many reports in one transaction.
void Server::drain_router() {
  begin_burst();
  proto::PeerFrame frame;
  size_t handled = 0;
  while (handled < config_.telemetry_batch && reports_.size() < config_.telemetry_batch &&
         proto::recv_from_router(router_, frame, /*wait=*/false)) {
    ++handled;
    handle_frame(frame.peer, frame.payload, frame.extra_parts);
  }
}

void Server::on_tick() {
  auto silent_after = std::chrono::milliseconds(config_.heartbeat_ms) * config_.liveness;
  auto t = Clock::now();
  std::vector<std::string> silent;
  for (auto& [peer, s] : sessions_) {
    if (t - s.last_heard > silent_after) silent.push_back(peer);
  }
  for (const auto& peer : silent) {
    drop_session(peer, "failure",
                 "silent for more than " + std::to_string(silent_after.count()) + " ms");
  }
  drop_revoked();
  drop_stalled_peers();
  requeue_overdue();
  forget_idle_peers();
  summarize_refused_handshakes(/*all=*/false);
  for (auto& [peer, s] : sessions_) {
    send(peer, proto::Heartbeat{static_cast<uint64_t>(s.task_id)});
    if (s.task_id == 0) try_assign(s);
  }
}

void Server::shutdown() {
  for (auto& [peer, s] : sessions_) {
    send(peer, proto::Goodbye{"coordinator shutting down"});
    (void)store_.set_agent_status(s.agent_id, "offline", now());
  }
  summarize_refused_handshakes(/*all=*/true);
  event("coordinator-stop", "", 0, failure_.ok() ? "" : failure_.to_string());
  (void)flush();
  sessions_.clear();
  by_agent_.clear();
  spdlog::info("coordinator stopped: {} report(s) stored, {} duplicate, {} chunk(s) sent",
               stats_.reports_stored, stats_.reports_duplicate, stats_.chunks_sent);
}

Status Server::flush() {
  if (!reports_.empty()) {
    auto outcomes = store_.insert_telemetry(reports_);
    if (!outcomes.ok()) {
      // Nothing is acknowledged, so agents resend; the store error is fatal.
      reports_.clear();
      report_peers_.clear();
      return outcomes.status();
    }
    for (size_t i = 0; i < reports_.size(); ++i) {
      const auto& key = reports_[i].idempotency_key;
      const auto& peer = report_peers_[i];
      const auto& outcome = (*outcomes)[i];
      switch (outcome.outcome) {
        case store::InsertOutcome::kInserted:
          ++stats_.reports_stored;
          send(peer, proto::Ack{key, false});
          break;
        case store::InsertOutcome::kDuplicate:
          ++stats_.reports_duplicate;
          send(peer, proto::Ack{key, true});
          break;
        case store::InsertOutcome::kFailed:
          ++stats_.reports_failed;
          spdlog::warn("report {} not stored: {}", key, outcome.error);
          reply_error(peer, proto::ErrorCode::kInternal, "report not stored: " + outcome.error,
                      key);
          break;
      }
    }
    reports_.clear();
    report_peers_.clear();
  }
  if (!events_.empty()) {
    FP_RETURN_IF_ERROR(store_.add_events(events_));
    events_.clear();
  }
  return Status::ok_status();
}

void Server::begin_burst() {
  if (burst_) return;
  burst_ = std::make_unique<sql::Transaction>(store_.db());
  if (!burst_->begin_status().ok()) {
    // Each write then commits on its own, as without bursts.
    uint64_t held = 0;
    if (burst_log_.due(held))
      spdlog::warn("could not open a transaction for this burst: {}{}",
                   burst_->begin_status().message(),
                   held ? fmt::format(" ({} more since the last such line)", held) : "");
    burst_.reset();
  }
}

Status Server::end_burst() {
  Status s = flush();
  if (s.ok()) s = burst_->commit();
  burst_.reset();  // rolls back if not committed
  std::vector<std::pair<std::string, std::string>> held;
  held.swap(held_);
  // Not committed: the replies are dropped with the writes (the store error is fatal;
  // agents resend to the next coordinator).
  if (!s.ok()) return s;
  for (auto& [peer, frame] : held) {
    Status sent = proto::send_to_peer(router_, peer, std::move(frame));
    if (!sent.ok()) on_send_failure(peer, sent, "reply");
  }
  return s;
}

void Server::send(const std::string& peer, proto::Message message) {
  if (burst_) {
    held_.emplace_back(peer, proto::encode(message));
    return;
  }
  Status s = proto::send_to_peer(router_, peer, proto::encode(message));
  if (!s.ok()) on_send_failure(peer, s, proto::type_name(proto::type_of(message)));
}

void Server::on_send_failure(const std::string& peer, const Status& s, const char* what) {
  spdlog::debug("dropping {} to a departed or full peer: {}", what, s.message());
  // A full queue (sndhwm messages unread): the peer does not read. Dropped after this
  // loop iteration, not here (callers may be iterating over the sessions).
  if (sessions_.count(peer) && s.message().find("full") != std::string::npos) {
    unreadable_.insert(peer);
  }
}

void Server::reply_error(const std::string& peer, proto::ErrorCode code, const std::string& reason,
                         const std::string& ref) {
  send(peer, proto::Error{code, reason, ref});
}

void Server::event(const std::string& kind, const std::string& agent_id, int64_t task_id,
                   const std::string& detail) {
  events_.push_back({0, now(), kind, agent_id, task_id, detail});
}

}  // namespace fp::coord
