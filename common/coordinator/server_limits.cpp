// Server: the limits that keep one agent from disturbing the others (a message rate
// per peer, a ceiling on connected agents) and dropping agents whose key was revoked.
#include <spdlog/spdlog.h>

#include <set>

#include "protocol/limits.h"
#include "coordinator/server.h"

namespace fp::coord {

bool Server::within_rate(const std::string& peer) {
  if (config_.rate_limit <= 0) return true;
  auto t = Clock::now();
  auto it = rates_.find(peer);
  if (it == rates_.end()) {
    it = rates_
             .emplace(peer,
                      PeerRate{TokenBucket(config_.rate_limit, config_.rate_burst, t), false, t})
             .first;
  }
  PeerRate& r = it->second;
  r.last = t;
  if (r.told && r.bucket.full(t)) r.told = false;  // the last burst is over
  if (r.bucket.take(t)) return true;
  ++stats_.frames_rate_limited;
  if (!r.told) {
    r.told = true;
    auto session = sessions_.find(peer);
    std::string who = session != sessions_.end() ? session->second.agent_id : "";
    std::string reason = "rate limit: more than " + fmt::format("{:g}", config_.rate_limit) +
                         " messages/s (burst " + fmt::format("{:g}", config_.rate_burst) +
                         ") from this agent; excess messages are dropped";
    spdlog::warn("agent {}: {}", who.empty() ? "(no Hello yet)" : who, reason);
    event("rate-limited", who, 0, reason);
    reply_error(peer, proto::ErrorCode::kLimitExceeded, reason, proto::kRateLimited);
  }
  return false;
}

bool Server::refuse_if_full(const std::string& peer, const proto::Hello& m) {
  // A reconnect replaces its own session, so only a newcomer can exceed the limit.
  if (sessions_.count(peer) || by_agent_.count(m.agent_id)) return false;
  if (sessions_.size() < config_.max_agents) return false;
  ++stats_.agents_refused_full;
  ++stats_.frames_rejected;
  std::string reason =
      "coordinator is full: " + std::to_string(sessions_.size()) +
      " agents connected (server.max_agents = " + std::to_string(config_.max_agents) +
      "); try again later";
  // Logged and recorded at most every 10 s: a full coordinator sees many retries.
  uint64_t held = 0;
  if (full_log_.due(held)) {
    std::string more = held ? " (" + std::to_string(held) + " more refusals since)" : "";
    spdlog::warn("agent {} refused: {}{}", m.agent_id, reason, more);
    event("refused-full", m.agent_id, 0, reason + more);
  }
  reply_error(peer, proto::ErrorCode::kLimitExceeded, reason, proto::kCoordinatorFull);
  return true;
}

void Server::drop_revoked() {
  if (config_.security.plain || sessions_.empty()) return;
  auto keys = store_.agent_keys();
  if (!keys.ok()) {
    spdlog::error("reading enrolled keys: {}", keys.status().to_string());
    return;
  }
  std::set<std::string> enrolled;
  for (const auto& k : *keys) {
    if (!k.revoked_at) enrolled.insert(k.public_key);
  }
  std::vector<std::string> revoked;
  for (const auto& [peer, s] : sessions_) {
    if (!enrolled.count(s.public_key)) revoked.push_back(peer);
  }
  for (const auto& peer : revoked) {
    ++stats_.agents_revoked;
    std::string reason = "public key " + sessions_[peer].public_key + " was revoked";
    send(peer, proto::Reject{reason, proto::kProtocolVersion});
    drop_session(peer, "revoked", reason);
  }
}

void Server::forget_idle_peers() {
  auto idle_after = std::chrono::milliseconds(config_.heartbeat_ms) * config_.liveness * 2;
  auto t = Clock::now();
  for (auto it = rates_.begin(); it != rates_.end();) {
    bool idle = t - it->second.last > idle_after && !sessions_.count(it->first);
    it = idle ? rates_.erase(it) : std::next(it);
  }
}

}  // namespace fp::coord
