// Server: decoding, validation and handling of each agent message.
#include <spdlog/spdlog.h>

#include "coordinator/server.h"
#include "coordinator/telemetry_record.h"
#include "protocol/codec.h"
#include "protocol/framing.h"
#include "protocol/limits.h"
#include "protocol/validate.h"
#include "util/random.h"
#include "util/text.h"

namespace fp::coord {
namespace {

std::string hex_peer(const std::string& peer) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : peer) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string new_session_id() { return fmt::format("{:016x}", random_u64()); }

std::string datasets_json(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i ? ",\"" : "\"");
    for (char c : names[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

}  // namespace

void Server::handle_frame(const std::string& peer, const zmq::message_t& payload,
                          size_t extra_parts) {
  ++stats_.frames_in;
  frames_received_.store(stats_.frames_in, std::memory_order_relaxed);
  if (!within_rate(peer)) return;  // dropped before any decoding work
  // A peer dropped for not reading gets no answers (they would only pile up in its
  // queue) until the chunks it left unread have drained.
  auto unread = chunk_accounts_.find(peer);
  if (unread != chunk_accounts_.end() && unread->second->stalled) {
    ++stats_.frames_ignored_unread;
    return;
  }
  auto reject = [&](proto::ErrorCode code, const std::string& reason, const std::string& ref = "") {
    ++stats_.frames_rejected;
    // At most one line per 10 s: a peer sending garbage must not grow the log.
    uint64_t held = 0;
    if (reject_log_.due(held)) {
      spdlog::warn(
          "peer {}: rejected frame: {}{}", hex_peer(peer), escape_text(reason),
          held ? fmt::format(" ({} more rejected frames since the last such line)", held) : "");
    }
    reply_error(peer, code, reason, ref);
  };
  if (extra_parts > 0) {
    return reject(proto::ErrorCode::kMalformed,
                  "expected one frame per message, got " + std::to_string(extra_parts + 1));
  }
  proto::ErrorCode why = proto::ErrorCode::kMalformed;
  auto decoded = proto::decode(payload.data(), payload.size(), proto::kMaxAgentFrameBytes, &why);
  if (!decoded.ok()) return reject(why, decoded.status().message());
  const proto::Message& message = *decoded;
  Status valid = proto::validate_agent_message(message);
  if (!valid.ok()) {
    bool allowed = proto::allowed_from_agent(proto::type_of(message));
    // Named by its key: its sender drops it rather than resending it for ever.
    return reject(allowed ? proto::ErrorCode::kBadRequest : proto::ErrorCode::kNotAllowed,
                  valid.message(), proto::idempotency_key_of(message));
  }

  if (auto* hello = std::get_if<proto::Hello>(&message)) {
    // CURVE: the ZAP handler set the enrolled key as the frame's User-Id.
    const char* key = config_.security.plain ? nullptr : zmq_msg_gets(payload.handle(), "User-Id");
    return on_hello(peer, *hello, key ? key : "");
  }
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) {
    ++stats_.frames_rejected;
    return reply_error(
        peer, proto::ErrorCode::kNotRegistered,
        std::string(proto::type_name(proto::type_of(message))) + " before Hello: say Hello first");
  }
  Session& s = it->second;
  s.last_heard = Clock::now();
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, proto::ChunkRequest>) {
          on_chunk_request(s, m);
        } else if constexpr (std::is_same_v<T, proto::TelemetryReport>) {
          on_report(s, m);
        } else if constexpr (std::is_same_v<T, proto::TaskStatus>) {
          on_task_status(s, m);
        } else if constexpr (std::is_same_v<T, proto::TaskResult>) {
          on_task_result(s, m);
        } else if constexpr (std::is_same_v<T, proto::Goodbye>) {
          on_goodbye(s, m);
        } else if constexpr (std::is_same_v<T, proto::Heartbeat>) {
          on_heartbeat(s, m);
        } else if constexpr (std::is_same_v<T, proto::Error>) {
          spdlog::warn("agent {} reports an error ({}): {}", s.agent_id,
                       proto::error_code_name(m.code), escape_text(m.reason));
          event("agent-error", s.agent_id, s.task_id, m.reason);
        }
      },
      message);
}

void Server::on_hello(const std::string& peer, const proto::Hello& m,
                      const std::string& public_key) {
  if (m.protocol_version < proto::kMinProtocolVersion ||
      m.protocol_version > proto::kProtocolVersion) {
    std::string reason = "protocol version " + std::to_string(m.protocol_version) +
                         " is not supported; this coordinator speaks versions " +
                         std::to_string(proto::kMinProtocolVersion) + " to " +
                         std::to_string(proto::kProtocolVersion);
    spdlog::warn("agent {} rejected: {}", m.agent_id, reason);
    event("reject", m.agent_id, 0, reason);
    ++stats_.frames_rejected;
    return send(peer, proto::Reject{reason, proto::kProtocolVersion});
  }
  if (!config_.security.plain) {
    // Admitted at the handshake, but the key may have been revoked since.
    auto name = public_key.empty() ? Result<std::optional<std::string>>(std::nullopt)
                                   : store().enrolled_key_name(public_key);
    if (!name.ok() || !name->has_value()) {
      std::string reason = public_key.empty()
                               ? std::string("no authenticated CURVE key on this connection")
                               : "public key " + public_key + " is not enrolled (revoked?)";
      spdlog::warn("agent {} rejected: {}", m.agent_id, reason);
      event("reject", m.agent_id, 0, reason);
      ++stats_.frames_rejected;
      return send(peer, proto::Reject{reason, proto::kProtocolVersion});
    }
  }
  if (refuse_identity(peer, m, public_key)) return;
  if (refuse_if_full(peer, m)) return;
  // A second live agent with this id (not a reconnect of the same process) is turned
  // away until the first goes silent; it retries, as after any lost connection.
  auto live = by_agent_.find(m.agent_id);
  if (live != by_agent_.end() && live->second != peer) {
    auto other = sessions_.find(live->second);
    auto silent_after = std::chrono::milliseconds(config_.heartbeat_ms) * config_.liveness;
    if (other != sessions_.end() && !other->second.instance_id.empty() &&
        other->second.instance_id != m.instance_id &&
        Clock::now() - other->second.last_heard <= silent_after) {
      // Said so a fleet's operator finds why: an image copied with its work folder gives every
      // device the agent.id made on the first.
      std::string reason = "agent id " + m.agent_id +
                           " is in use by another running agent (two devices given one id, or a "
                           "work folder copied with its agent.id? each device needs its own)";
      spdlog::warn("{}", reason);
      event("duplicate-id", m.agent_id, 0, reason);
      ++stats_.frames_rejected;
      return reply_error(peer, proto::ErrorCode::kNotAllowed, reason, proto::kAgentIdInUse);
    }
  }
  Session fresh;
  fresh.peer = peer;
  fresh.agent_id = m.agent_id;
  fresh.instance_id = m.instance_id;
  fresh.leaves_when_done = m.leaves_when_done;
  fresh.public_key = public_key;
  if (!public_key.empty()) keys_unlooked_.insert(public_key);  // drop_revoked looks it up
  fresh.session_id = new_session_id();
  fresh.last_heard = fresh.last_seen_written = Clock::now();
  for (const auto& name : m.capabilities.datasets) {
    auto slash = name.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == name.size()) {
      std::string reason =
          "capabilities.datasets entry '" + name + "' is not of the form dataset/individual";
      event("reject", m.agent_id, 0, reason);
      return send(peer, proto::Reject{reason, proto::kProtocolVersion});
    }
    fresh.holdings.emplace_back(name.substr(0, slash), name.substr(slash + 1));
  }

  // A reconnecting agent replaces its old session; the task it still works on stays
  // with it, any other task it held goes back to the queue.
  int64_t previous_task = 0;
  auto known = by_agent_.find(m.agent_id);
  if (known != by_agent_.end()) {
    auto old = sessions_.find(known->second);
    if (old != sessions_.end()) {
      previous_task = old->second.task_id;
      sessions_.erase(old);
    }
    by_agent_.erase(known);
  }
  if (sessions_.count(peer)) {  // a second Hello on one connection
    previous_task = previous_task ? previous_task : sessions_[peer].task_id;
    by_agent_.erase(sessions_[peer].agent_id);
    sessions_.erase(peer);
  }
  int64_t current = static_cast<int64_t>(m.current_task_id);
  if (previous_task != 0 && previous_task != current) {
    requeue(previous_task, m.agent_id, "agent reconnected without it");
  }

  double t = now();
  must_write(
      store().upsert_agent({m.agent_id, t, t, m.capabilities.threads,
                            static_cast<int64_t>(m.capabilities.memory_mb),
                            datasets_json(m.capabilities.datasets), "online", fresh.session_id}),
      "an agent's row");
  const AgentView announcing{fresh.agent_id, fresh.holdings};
  for (const auto& [dataset, individual] : fresh.holdings) {
    if (!policy_->enroll(announcing, dataset, individual)) continue;
    if (!within_enrollment_allowance(fresh, dataset + "/" + individual)) continue;
    Status s = store().enroll(dataset, individual);
    if (!s.ok()) spdlog::error("enrolling {}/{}: {}", dataset, individual, s.to_string());
  }
  event("join", m.agent_id, 0, datasets_json(m.capabilities.datasets));
  spdlog::info("agent {} joined (session {}, {} data set(s))", m.agent_id, fresh.session_id,
               fresh.holdings.size());

  Session& s = sessions_[peer] = std::move(fresh);
  by_agent_[s.agent_id] = peer;
  if (database_id_.empty()) {
    auto id = store().identity();
    if (id.ok()) database_id_ = *id;  // otherwise "" as from older coordinators, and said
    if (!id.ok()) spdlog::warn("this database's identity: {}", id.status().to_string());
  }
  send(peer, proto::Welcome{s.session_id, config_.heartbeat_ms, config_.chunk_size,
                            config_.chunk_credit, database_id_});

  // Only a task the coordinator gave this same agent id is reclaimed: one it still
  // holds, or one requeued from it (lost connection, coordinator restart) and not given
  // to anyone since. Any other currentTaskId is ignored.
  if (current != 0) {
    auto task = store().task(current);
    if (task.ok() && task->has_value() && (*task)->agent_id == s.agent_id) {
      const auto& tr = **task;
      bool held = tr.status == "assigned";
      bool reclaimed = tr.status == "pending" &&
                       store().assign_task(current, s.agent_id, t, /*new_attempt=*/false).ok();
      if (held || reclaimed) {
        restart_orphans_.erase(current);  // it did reach the agent
        start_task_clock(s, current);
        s.assigned_at = Clock::now();  // no assignment sent: see on_heartbeat
        event("resume", s.agent_id, current, "");
      }
    }
  }
  try_assign(s);
  if (s.task_id == 0) warn_if_taskless_data(s);  // a task given is one on its data
}

void Server::on_chunk_request(Session& s, const proto::ChunkRequest& m) {
  if (s.task_id == 0 || m.sha256 != s.model_sha256) {
    auto known = registry().find(m.sha256);
    if (!known.ok()) {
      return reply_error(s.peer, proto::ErrorCode::kUnknownModel, known.status().message(),
                         m.sha256);
    }
    return reply_error(
        s.peer, proto::ErrorCode::kNotAllowed,
        "model " + m.sha256 + " is not the model of a task assigned to agent " + s.agent_id,
        m.sha256);
  }
  auto& account = chunk_account(s.peer);
  if (!account.stalled && account.waiting.empty() && chunk_room(account, config_.chunk_size)) {
    return serve_chunk(s, m);
  }
  // Beyond the credit: held (without reading the file) until this peer's chunks drain,
  // up to another credit's worth; beyond that refused.
  if (!account.stalled && account.waiting.size() < config_.chunk_credit) {
    account.waiting.push_back(m);
    ++waiting_requests_;
    ++stats_.chunk_requests_deferred;
    return;
  }
  ++stats_.chunk_requests_refused;
  if (account.told) return;  // said once until its chunks drain: no reply pile-up
  account.told = true;
  reply_error(s.peer, proto::ErrorCode::kLimitExceeded,
              "chunk credit exceeded: " + std::to_string(account.chunks.load()) +
                  " chunk(s) not yet read and " + std::to_string(account.waiting.size()) +
                  " request(s) waiting (credit " + std::to_string(config_.chunk_credit) + ")",
              m.sha256);
}

std::optional<store::TelemetryRecord> Server::accept_report(Session& s,
                                                            const proto::TelemetryReport& m) {
  std::optional<store::TaskRecord> read;  // the task, where task_facts() read it now
  auto facts = task_facts(static_cast<int64_t>(m.task_id), &read);
  if (!facts.ok()) {
    reply_error(s.peer, proto::ErrorCode::kUnknownTask, facts.status().message(),
                m.idempotency_key);
    return std::nullopt;
  }
  if (!holds(s, static_cast<int64_t>(m.task_id), read ? &*read : nullptr)) {
    ++stats_.frames_rejected;
    reply_error(s.peer, proto::ErrorCode::kNotAllowed,
                "task " + std::to_string(m.task_id) + " is not assigned to agent " + s.agent_id +
                    ": report not stored",
                m.idempotency_key);
    return std::nullopt;
  }
  auto problem = report_problem(m, **facts);
  if (!problem.ok() || !problem->empty()) {
    ++stats_.frames_rejected;
    const std::string why = problem.ok() ? *problem : problem.status().message();
    if (const auto id = static_cast<int64_t>(m.task_id);
        problem.ok() && !refused_report(id, s.agent_id))
      refused_reports_.insert_or_assign(id, RefusedReport{s.agent_id, why});  // its first
    spdlog::warn("agent {}: {}: report not stored", s.agent_id, escape_text(why));
    event("bad-report", s.agent_id, static_cast<int64_t>(m.task_id), why);
    reply_error(s.peer, problem.ok() ? proto::ErrorCode::kBadRequest : proto::ErrorCode::kInternal,
                why + ": report not stored", m.idempotency_key);
    return std::nullopt;
  }
  return to_record(m, s.agent_id, (*facts)->campaign_id, now());
}

void Server::on_report(Session& s, const proto::TelemetryReport& m) {
  auto record = accept_report(s, m);
  if (!record) return;
  reports_.push_back(std::move(*record));
  report_peers_.push_back(s.peer);
}

void Server::on_task_result(Session& s, const proto::TaskResult& m) {
  // The reports are stored now, after those received before them and before the status
  // (in this burst's transaction); the status's Ack answers for them all.
  ++stats_.task_results;
  std::vector<store::TelemetryRecord> records;
  for (const auto& report : m.reports) {
    if (auto record = accept_report(s, report)) records.push_back(std::move(*record));
  }
  // A result is one unit: with a report refused for good none of it is stored, and its status
  // fails the task below (a failed task holds no rows).
  if (refused_report(static_cast<int64_t>(m.status.task_id), s.agent_id)) records.clear();
  Status stored = store_reports();
  auto outcomes = stored.ok() ? store().insert_telemetry(records)
                              : Result<std::vector<store::TelemetryInsert>>(stored);
  if (!outcomes.ok()) {
    failure_ = outcomes.status();  // fatal; nothing acknowledged, so the agent resends
    return;
  }
  size_t unstored = 0;
  std::string first_error;
  for (size_t i = 0; i < records.size(); ++i) {
    count_insert(records[i], (*outcomes)[i]);
    if ((*outcomes)[i].outcome == store::InsertOutcome::kFailed && unstored++ == 0) {
      first_error = (*outcomes)[i].error;
    }
  }
  if (unstored > 0) {
    // The task stays open; the agent resends the whole result, and the reports
    // stored this time count as duplicates then.
    return reply_error(s.peer, proto::ErrorCode::kInternal,
                       std::to_string(unstored) + " of the task's " +
                           std::to_string(m.reports.size()) +
                           " report(s) not stored: " + first_error,
                       m.status.idempotency_key);
  }
  on_task_status(s, m.status);
}

const Server::RefusedReport* Server::refused_report(int64_t task_id, const std::string& agent_id) {
  auto it = refused_reports_.find(task_id);
  if (it == refused_reports_.end()) return nullptr;
  if (it->second.agent_id == agent_id) return &it->second;
  refused_reports_.erase(it);  // an earlier holder's: the task moved on
  return nullptr;
}

void Server::on_task_status(Session& s, const proto::TaskStatus& m) {
  // Reports sent before this status are stored first (committed with it, in this burst).
  Status flushed = store_reports();
  if (!flushed.ok()) failure_ = flushed;
  int64_t id = static_cast<int64_t>(m.task_id);
  auto task = store().task(id);
  if (!task.ok() || !task->has_value()) {
    return reply_error(s.peer, proto::ErrorCode::kUnknownTask,
                       "no task " + std::to_string(m.task_id), m.idempotency_key);
  }
  const auto& tr = **task;
  if (tr.agent_id != s.agent_id) {  // another agent's task, or one never handed out
    ++stats_.frames_rejected;
    return reply_error(s.peer, proto::ErrorCode::kNotAllowed,
                       "task " + std::to_string(m.task_id) + " is not assigned to agent " +
                           s.agent_id + ": status not taken",
                       m.idempotency_key);
  }
  if (const RefusedReport* refused = refused_report(id, s.agent_id)) {
    const std::string why = "a report of it was refused (" + refused->why + ")";
    refused_reports_.erase(id);
    if (tr.status == "assigned" && m.ok) {  // a failed status fails it with its own reason
      Status failed = store().finish_task(id, false, why, now());
      if (!failed.ok()) {
        failure_ = failed;
        return;
      }
      forget_task(id);
      event("failure", s.agent_id, id, why);
      spdlog::warn("agent {}: task {} failed: {}", s.agent_id, id, escape_text(why));
      check_campaign(tr.campaign_id);
      // Final: the agent drops its result (kInternal had it resend the result for ever).
      return reply_error(s.peer, proto::ErrorCode::kBadRequest,
                         "task " + std::to_string(id) + " failed: " + why, m.idempotency_key);
    }
  }
  if (tr.status == "assigned" && m.ok) {
    // Its reports came before it (stored above): a status counting more is missing some (a
    // frame dropped: the agent resends them, then this), and a finished task has at least
    // Fine-Pruning's.
    auto stored = store().task_report_count(id);
    if (!stored.ok()) {
      failure_ = stored.status();
      return;
    }
    if (m.reports == 0 || static_cast<uint64_t>(*stored) < m.reports) {
      ++stats_.frames_rejected;
      const std::string why =
          m.reports == 0
              ? "task " + std::to_string(id) + " finished with no report: status not taken"
              : "task " + std::to_string(id) + "'s status counts " + std::to_string(m.reports) +
                    " report(s), " + std::to_string(*stored) +
                    " stored: status not taken until the rest arrive";
      spdlog::warn("agent {}: {}", s.agent_id, why);
      return reply_error(
          s.peer, m.reports == 0 ? proto::ErrorCode::kBadRequest : proto::ErrorCode::kInternal, why,
          m.idempotency_key);
    }
  }
  if (tr.status == "assigned") {
    Status finished = store().finish_task(id, m.ok, m.reason, now());
    if (!finished.ok()) {
      failure_ = finished;  // fatal, and not acknowledged: the agent resends its status
      return;
    }
    forget_task(id);
    if (m.ok) {
      event("task-done", s.agent_id, id, std::to_string(m.reports) + " report(s)");
      spdlog::info("agent {} finished task {} ({} report(s))", s.agent_id, id, m.reports);
    } else {
      event("failure", s.agent_id, id, m.reason);
      spdlog::warn("agent {} failed task {}: {}", s.agent_id, id, m.reason);
    }
    check_campaign(tr.campaign_id);
  }
  // A retry or a stale status (the task moved on) is acknowledged and ignored.
  send(s.peer, proto::Ack{m.idempotency_key, tr.status != "assigned"});
  if (s.task_id == id) s.task_id = 0;
  if (s.overdue_task == id) s.overdue_task = 0;
  try_assign(s);
}

void Server::on_heartbeat(Session& s, const proto::Heartbeat& m) {
  // An agent that let go of a task taken back at its deadline may get a new one.
  if (s.overdue_task != 0 && m.task_id != static_cast<uint64_t>(s.overdue_task)) {
    s.overdue_task = 0;
  }
  // An agent that says it is idle a while after being given a task never got the
  // assignment (a dropped frame): send it again. Its heartbeats name the task from
  // the moment it arrives until its status is acknowledged.
  if (m.task_id == 0 && s.task_id != 0 &&
      s.assignment.task_id == static_cast<uint64_t>(s.task_id) &&
      Clock::now() - s.assigned_at > std::chrono::milliseconds(2 * config_.heartbeat_ms)) {
    spdlog::info("agent {} is idle but holds task {}: sending the assignment again", s.agent_id,
                 s.task_id);
    s.assigned_at = Clock::now();
    send(s.peer, s.assignment);
  }
  // A task it claimed in its Hello (running, or its result waiting in its outbox) and no
  // longer names: it let go of it (e.g. that result was made for another coordinator
  // database and dropped at the Welcome). Back to the queue now, not at its deadline.
  if (m.task_id == 0 && s.task_id != 0 &&
      s.assignment.task_id != static_cast<uint64_t>(s.task_id) &&
      Clock::now() - s.assigned_at > std::chrono::milliseconds(2 * config_.heartbeat_ms)) {
    const int64_t task = s.task_id;
    s.task_id = 0;
    requeue(task, s.agent_id, "agent " + s.agent_id + " no longer holds the task it claimed");
    try_assign(s);
  }
}

void Server::warn_if_taskless_data(const Session& s) {
  if (s.holdings.empty() || told_of_taskless_data_.count(s.agent_id)) return;
  for (const auto& [dataset, individual] : s.holdings) {
    auto tasks = store().data_tasks(dataset, individual);
    if (!tasks.ok() || *tasks != store::Store::DataTasks::kNone) return;
  }
  // Not refused: a device may join before its campaign is made. But simulation hosts
  // started with another seed, scenario or population than their run's wait here for ever,
  // and nothing else would say why.
  told_of_taskless_data_.insert(s.agent_id);
  std::string names;
  for (const auto& [dataset, individual] : s.holdings)
    names += (names.empty() ? "" : ", ") + dataset + "/" + individual;
  const std::string why = "no campaign has a task on its data (" + names +
                          "): it waits for one (a device ahead of its campaign, or a simulation "
                          "host started with another scenario, seed or individuals than its run)";
  spdlog::warn("agent {}: {}", s.agent_id, why);
  event("taskless-data", s.agent_id, 0, why);
}

void Server::on_goodbye(Session& s, const proto::Goodbye& m) {
  drop_session(s.peer, "leave", m.reason.empty() ? "goodbye" : m.reason);
}

}  // namespace fp::coord
