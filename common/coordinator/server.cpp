// Server: the poll loop, ticks (heartbeats and liveness), flushing and shutdown.
#include "coordinator/server.h"

#include <spdlog/spdlog.h>

#include <cerrno>

#include "protocol/codec.h"
#include "protocol/endpoint.h"
#include "protocol/framing.h"

namespace fp::coord {

Server::Server(ServerConfig config, zmq::context_t& context, store::Store& store,
               ModelRegistry& registry)
    : config_(std::move(config)),
      policy_(config_.policy ? config_.policy
                             : std::make_shared<FirstPendingPolicy>(config_.max_attempts)),
      context_(context),
      shared_store_(store),
      shared_registry_(registry),
      router_(context, zmq::socket_type::router) {
  proto::configure_router(router_);
  shared_store_.keep_newest_events(config_.events_kept);
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
            [this](const std::string& key) { return store().enrolled_key_name(key); });
        if (!d.admit) note_refused_handshake(r, d);
        return d;
      }));
  FP_RETURN_IF_ERROR(security::make_curve_server(router_, keys));
  monitor_ = std::make_unique<security::HandshakeMonitor>(context_, router_);
  return Status::ok_status();
}

Status Server::bind() {
  FP_RETURN_IF_ERROR(check_server_config(config_));
  FP_RETURN_IF_ERROR(proto::check_ipc_path_free(config_.endpoint));
  FP_RETURN_IF_ERROR(bind_security());
  try {
    router_.bind(proto::bindable_endpoint(config_.endpoint));
    bound_endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    // libzmq's ENODEV ("No such device") is a host it took for an interface name.
    const std::string hint = e.num() == ENODEV ? " (a coordinator binds an IP address, * for "
                                                 "every interface, or an interface name such "
                                                 "as eth0; not a host name)"
                                               : "";
    return Status::unavailable("binding " + config_.endpoint + ": " + e.what() + hint);
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
  stop_requested_ = true;
  std::lock_guard<std::mutex> lock(waker_mutex_);
  if (waker_) waker_->request_stop();
}

Status Server::run(const std::function<Status()>& on_serving) {
  if (bound_endpoint_.empty()) FP_RETURN_IF_ERROR(bind());
  {
    std::lock_guard<std::mutex> lock(waker_mutex_);
    waker_ = std::make_unique<LoopWaker>(context_, std::chrono::milliseconds(config_.heartbeat_ms),
                                         config_.handle_signals);
  }
  worker_ = std::make_unique<CommitWorker>(context_);
  if (const std::string& file = shared_store_.db().path(); file != ":memory:") {
    auto reader = store::Store::open_reader(file);
    if (reader.ok()) {
      reader_ = std::move(*reader);
    } else {
      spdlog::warn("reading tasks beside the commits: {} (such reads wait for them instead)",
                   reader.status().to_string());
    }
  }
  // Tasks a previous run left assigned go back to the queue; agents still working on
  // one reclaim it in their Hello.
  FP_ASSIGN_OR_RETURN(std::vector<int64_t> orphaned, store().requeue_all_assigned());
  restart_orphans_.insert(orphaned.begin(), orphaned.end());
  if (!orphaned.empty())
    spdlog::info("requeued {} task(s) left assigned by a previous run", orphaned.size());
  // A campaign whose last task ended without its "done" being written (a run that stopped
  // on that write) is finished now, not left running for ever.
  FP_ASSIGN_OR_RETURN(std::vector<store::CampaignRecord> campaigns, store().campaigns());
  for (const auto& c : campaigns) {
    if (!c.open_enrollment && c.status == "running") check_campaign(c.id);
  }
  event("coordinator-start", "", 0, bound_endpoint_);
  FP_RETURN_IF_ERROR(flush());
  spdlog::info("coordinator serving on {}", bound_endpoint_);
  if (config_.exit_when_done && all_campaigns_finished()) stopping_ = true;
  if (on_serving) failure_ = on_serving();
  if (stop_requested_) {
    spdlog::info("stop requested");
    stopping_ = true;
  }

  while (!stopping_ && failure_.ok()) {
    // The ROUTER (not while a full batch of reports waits for the commit in flight), the
    // waker and the commit worker, then ZAP and the handshake monitor where there are.
    const short router_events = worker_->busy() && reports_full() ? 0 : ZMQ_POLLIN;
    std::vector<zmq::pollitem_t> items = {{router_.handle(), 0, router_events, 0},
                                          {waker_->socket().handle(), 0, ZMQ_POLLIN, 0},
                                          {worker_->socket().handle(), 0, ZMQ_POLLIN, 0}};
    size_t zap_item = 0, monitor_item = 0;
    if (zap_) {
      zap_item = items.size();
      items.push_back({zap_->socket().handle(), 0, ZMQ_POLLIN, 0});
    }
    if (monitor_) {
      monitor_item = items.size();
      items.push_back({monitor_->socket().handle(), 0, ZMQ_POLLIN, 0});
    }
    // Chunk requests waiting for a peer's queue to drain are looked at every millisecond;
    // a burst waiting to commit with more messages, at its time.
    // Only a waiting burst outlives its iteration; one whose time ran out since (the end
    // of the last iteration, a signal) polls without waiting and commits below.
    auto wait = std::chrono::milliseconds(waiting_requests_ ? 1 : -1);
    if (bursting_) {
      const auto commit_in = commit_wait().value_or(std::chrono::milliseconds(0));
      wait = wait.count() < 0 ? commit_in : std::min(wait, commit_in);
    }
    try {
      zmq::poll(items, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      failure_ = Status::internal(std::string("poll: ") + e.what());
      break;  // a waiting burst is still committed below
    }
    if (items[2].revents & ZMQ_POLLIN) {
      worker_->drain_notes();
      Status s = finish_commit();
      if (!s.ok()) failure_ = s;
      // Not while a burst of the loop's waits to commit (commit_wait): what waits for a
      // commit then goes with that burst's, replies after it.
      if (failure_.ok() && !worker_->busy() && !burst_) commit_pending();
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
    if (zap_ && (items[zap_item].revents & ZMQ_POLLIN)) zap_->handle_pending();
    if (monitor_ && (items[monitor_item].revents & ZMQ_POLLIN)) {
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
    Status s = !bursting_ ? flush() : commit_wait() ? Status::ok_status() : end_burst();
    drop_unreadable_peers();
    if (!s.ok() && failure_.ok()) failure_ = s;
  }
  if (bursting_) {  // a burst left waiting (the loop ended another way than by stopping_)
    Status s = end_burst();
    if (!s.ok() && failure_.ok()) failure_ = s;
  }
  Status committed = commit_everything();
  if (!committed.ok() && failure_.ok()) failure_ = committed;
  shutdown();
  worker_.reset();
  reader_.reset();  // before the shared connection closes: its close then checkpoints the WAL
  {
    std::lock_guard<std::mutex> lock(waker_mutex_);
    waker_.reset();
  }
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
  ++stats_.ticks;
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
  summarize_refusals(/*all=*/false);
  const auto seen_every = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(config_.last_seen_every_s));
  for (auto& [peer, s] : sessions_) {
    if (!s.agent_id.empty() && s.last_heard - s.last_seen_written >= seen_every) {
      const double heard =
          now() - std::chrono::duration<double>(Clock::now() - s.last_heard).count();
      must_write(store().set_agent_status(s.agent_id, "online", heard), "an agent's last_seen");
      s.last_seen_written = s.last_heard;
    }
    send(peer, proto::Heartbeat{static_cast<uint64_t>(s.task_id)});
    if (s.task_id == 0) try_assign(s);
    s.idle_ticks = s.task_id == 0 && s.overdue_task == 0 ? s.idle_ticks + 1 : 0;
    tell_if_no_task_left(s);
  }
}

void Server::shutdown() {
  for (auto& [peer, s] : sessions_) {
    // An idle agent that leaves when done leaves now: nothing is left for it anywhere, and
    // the plain goodbye would have it reconnect to a coordinator that is not coming back.
    if (all_done_ && s.leaves_when_done && s.task_id == 0)
      send(peer, proto::Goodbye{"every campaign is finished; the coordinator stops",
                                /*no_task_left=*/true});
    else
      send(peer, proto::Goodbye{"coordinator shutting down"});
    (void)store().set_agent_status(s.agent_id, "offline", now());
  }
  summarize_refusals(/*all=*/true);
  event("coordinator-stop", "", 0, failure_.ok() ? "" : failure_.to_string());
  (void)flush();
  sessions_.clear();
  by_agent_.clear();
  if (failure_.ok()) {
    spdlog::info("coordinator stopped: {} report(s) stored, {} duplicate, {} chunk(s) sent",
                 stats_.reports_stored, stats_.reports_duplicate, stats_.chunks_sent);
  } else {
    spdlog::error(
        "coordinator stopped on an error: {} ({} report(s) stored, {} duplicate, {} "
        "chunk(s) sent)",
        failure_.to_string(), stats_.reports_stored, stats_.reports_duplicate, stats_.chunks_sent);
  }
}

void Server::count_insert(const store::TelemetryRecord& report,
                          const store::TelemetryInsert& outcome) {
  switch (outcome.outcome) {
    case store::InsertOutcome::kInserted:
      ++stats_.reports_stored;
      break;
    case store::InsertOutcome::kDuplicate:
      ++stats_.reports_duplicate;
      break;
    case store::InsertOutcome::kFailed:
      ++stats_.reports_failed;
      spdlog::warn("report {} not stored: {}", report.idempotency_key, outcome.error);
      break;
  }
}

// Acknowledges each stored report (or says why it was not), in the order received.
void Server::acknowledge(const std::vector<store::TelemetryRecord>& reports,
                         const std::vector<std::string>& peers,
                         const std::vector<store::TelemetryInsert>& outcomes,
                         std::vector<std::pair<std::string, std::string>>& out) {
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& key = reports[i].idempotency_key;
    const auto& outcome = outcomes[i];
    count_insert(reports[i], outcome);
    if (outcome.outcome == store::InsertOutcome::kFailed) {
      out.emplace_back(peers[i],
                       proto::encode(proto::Error{proto::ErrorCode::kInternal,
                                                  "report not stored: " + outcome.error, key}));
    } else {
      out.emplace_back(peers[i], proto::encode(proto::Ack{
                                     key, outcome.outcome == store::InsertOutcome::kDuplicate}));
    }
  }
}

Status Server::flush() {
  FP_RETURN_IF_ERROR(store_reports());
  if (!events_.empty()) {
    FP_RETURN_IF_ERROR(store().add_events(events_));
    events_.clear();
  }
  return Status::ok_status();
}

Status Server::store_reports() {
  if (!reports_.empty()) {
    auto outcomes = store().insert_telemetry(reports_);
    if (!outcomes.ok()) {
      // Nothing is acknowledged, so agents resend; the store error is fatal.
      reports_.clear();
      report_peers_.clear();
      return outcomes.status();
    }
    std::vector<std::pair<std::string, std::string>> acks;
    acknowledge(reports_, report_peers_, *outcomes, bursting_ ? held_ : acks);
    send_held(acks);
    reports_.clear();
    report_peers_.clear();
  }
  return Status::ok_status();
}

void Server::must_write(const Status& written, const char* what) {
  if (written.ok() || !failure_.ok()) return;
  spdlog::error("writing {}: {}", what, written.to_string());
  failure_ = written.with_context(std::string("writing ") + what + ": ");
}

void Server::begin_burst() {
  if (!bursting_) before_burst_ = stats_;
  bursting_ = true;
  burst_unopened_ = false;
}

store::Store& Server::store() {
  if (worker_ && worker_->busy()) {
    Status s = finish_commit();
    if (!s.ok() && failure_.ok()) failure_ = s;
  }
  if (bursting_ && !burst_ && !burst_unopened_) open_burst_transaction();
  return shared_store_;
}

store::Store& Server::store_for_task_reads() { return reader_ && !burst_ ? *reader_ : store(); }

ModelRegistry& Server::registry() {
  (void)store();
  return shared_registry_;
}

void Server::open_burst_transaction() {
  burst_ = std::make_unique<sql::Transaction>(shared_store_.db());
  burst_opened_ = Clock::now();
  if (!burst_->begin_status().ok()) {
    // Each write then commits on its own, as without bursts.
    uint64_t held = 0;
    if (burst_log_.due(held))
      spdlog::warn("could not open a transaction for this burst: {}{}",
                   burst_->begin_status().message(),
                   held ? fmt::format(" ({} more since the last such line)", held) : "");
    burst_.reset();
    burst_unopened_ = true;
  }
}

std::optional<std::chrono::milliseconds> Server::commit_wait() const {
  // Only the loop's own transaction waits (a burst of reports alone goes to the commit
  // worker at once, where bursts arriving meanwhile wait for the next commit anyway); not
  // when stopping, failing, or with a full batch of reports.
  if (config_.commit_delay_ms == 0 || !bursting_ || !burst_ || stopping_ || !failure_.ok() ||
      reports_full())
    return std::nullopt;
  const auto due = burst_opened_ + std::chrono::milliseconds(config_.commit_delay_ms);
  const auto now = Clock::now();
  if (now >= due) return std::nullopt;
  return std::chrono::ceil<std::chrono::milliseconds>(due - now);
}

Status Server::end_burst() {
  if (!burst_ && !burst_unopened_ && worker_) {
    bursting_ = false;
    // The burst wrote nothing but reports and events: they commit on the worker. While a
    // commit is in flight they wait, replies included, and the loop reads on; the next
    // commit takes all that waits (commit_pending, when the worker's note arrives).
    if (!worker_->busy()) commit_pending();
    return Status::ok_status();
  }
  // Still bursting while the last reports are written: their Acks wait with the other
  // replies for the commit (sent before it, a failed commit lost acknowledged reports).
  Status s = flush();
  bursting_ = false;
  if (s.ok() && burst_) {
    s = burst_->commit();
    if (s.ok()) ++stats_.commits_on_loop;
  }
  burst_.reset();  // rolls back if not committed
  std::vector<std::pair<std::string, std::string>> held;
  held.swap(held_);
  if (!s.ok()) {
    // Not committed: the replies are dropped with the writes, and the reports are not
    // counted as stored (the store error is fatal; agents resend to the next coordinator).
    stats_.reports_stored = before_burst_.reports_stored;
    stats_.reports_duplicate = before_burst_.reports_duplicate;
    stats_.reports_failed = before_burst_.reports_failed;
    return s;
  }
  send_held(held);
  return s;
}

void Server::commit_pending() {
  if (!reports_.empty() || !events_.empty()) {
    commit_in_background();
  } else {
    send_held(held_);  // replies that wrote nothing, after the commit before them
  }
}

bool Server::reports_full() const { return reports_.size() >= config_.telemetry_batch; }

Status Server::commit_everything() {
  FP_RETURN_IF_ERROR(finish_commit());
  if (worker_) commit_pending();
  return finish_commit();
}

void Server::commit_in_background() {
  background_.reports.swap(reports_);
  background_.report_peers.swap(report_peers_);
  background_.events.swap(events_);
  background_.held.swap(held_);
  background_.outcomes = std::vector<store::TelemetryInsert>{};
  ++stats_.commits_in_background;
  worker_->submit([this]() -> Status {
    auto& b = background_;
    auto start = std::chrono::steady_clock::now();
    Status s = commit_background(b);
    b.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return s;
  });
}

Status Server::commit_background(BackgroundCommit& b) {
  sql::Transaction tx(shared_store_.db());
  FP_RETURN_IF_ERROR(tx.begin_status());
  if (!b.reports.empty()) {
    b.outcomes = shared_store_.insert_telemetry(b.reports);
    if (!b.outcomes.ok()) return b.outcomes.status();
  }
  if (!b.events.empty()) FP_RETURN_IF_ERROR(shared_store_.add_events(b.events));
  return tx.commit();
}

Status Server::finish_commit() {
  if (!worker_ || !worker_->busy()) return Status::ok_status();
  Status s = worker_->wait();
  auto& b = background_;
  stats_.commit_seconds += b.seconds;
  if (s.ok()) {
    // The bursts' own replies, then their acknowledgements.
    acknowledge(b.reports, b.report_peers, *b.outcomes, b.held);
    send_held(b.held);
  }
  // Not committed: nothing is acknowledged (agents resend); the error is fatal.
  b.reports.clear();
  b.report_peers.clear();
  b.events.clear();
  b.held.clear();
  if (!s.ok()) {
    // Nor what waited for the next commit.
    reports_.clear();
    report_peers_.clear();
    held_.clear();
  }
  return s;
}

void Server::send_held(std::vector<std::pair<std::string, std::string>>& held) {
  for (auto& [peer, frame] : held) {
    Status sent = proto::send_to_peer(router_, peer, std::move(frame));
    if (!sent.ok()) on_send_failure(peer, sent, "reply");
  }
  held.clear();
}

void Server::send(const std::string& peer, proto::Message message) {
  if (bursting_) {
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
