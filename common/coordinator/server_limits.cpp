// Server: the limits that keep one peer from disturbing the others or the coordinator
// (docs/SECURITY.md): a message rate per peer, a ceiling on connected agents, agent ids
// bound to keys and sessions per key, refused handshakes summarized, model chunks within
// each peer's credit and a total budget, peers that do not read dropped, revoked keys.
#include <spdlog/spdlog.h>

#include <cstring>
#include <set>

#include "coordinator/server.h"
#include "protocol/codec.h"
#include "protocol/framing.h"
#include "protocol/limits.h"
#include "security/keys.h"

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
  if (config_.security.plain) return;
  if (sessions_.empty()) return keys_unlooked_.clear();  // refused Hellos' keys
  // Keys change only through other connections (fp-coordinator keys), which change the
  // connection's data_version: while it stands, only the keys of sessions admitted since
  // the last look are looked up (one revoked between its handshake and its Hello), not every
  // key (36 ms a tick at 100,000 keys).
  auto version = store().db().query_int("PRAGMA data_version");
  const bool every_key = !version.ok() || *version != keys_version_;
  if (!every_key && keys_unlooked_.empty()) return;
  std::set<std::string> enrolled;  // of the keys looked at
  if (every_key) {
    auto keys = store().agent_keys();
    if (!keys.ok()) {
      spdlog::error("reading enrolled keys: {}", keys.status().to_string());
      return;
    }
    ++stats_.enrolled_key_reads;
    for (const auto& k : *keys) {
      if (!k.revoked_at) enrolled.insert(k.public_key);
    }
  } else {
    for (const auto& key : keys_unlooked_) {
      auto name = store().enrolled_key_name(key);
      if (!name.ok()) {
        spdlog::error("reading enrolled keys: {}", name.status().to_string());
        return;
      }
      if (*name) enrolled.insert(key);
    }
  }
  std::vector<std::string> revoked;
  for (const auto& [peer, s] : sessions_) {
    const bool looked_at = every_key || keys_unlooked_.count(s.public_key);
    if (looked_at && !enrolled.count(s.public_key)) revoked.push_back(peer);
  }
  keys_version_ = version.ok() ? *version : -1;
  keys_unlooked_.clear();
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

bool Server::refuse_past_id_allowance(const std::string& peer, const proto::Hello& m,
                                      const std::string& public_key, Status* error) {
  // Counted once, then kept here.
  auto counted = ids_of_key_.find(public_key);
  if (counted == ids_of_key_.end()) {
    auto n = store().count_identities(public_key);
    if (!n.ok()) {
      *error = n.status();
      return false;
    }
    counted = ids_of_key_.emplace(public_key, *n).first;
  }
  if (counted->second < config_.max_ids_per_key) {
    ++counted->second;
    return false;
  }
  std::string reason =
      "key " + public_key + " has bound " + std::to_string(counted->second) +
      " agent id(s) already (server.max_ids_per_key = " + std::to_string(config_.max_ids_per_key) +
      "): agent id " + m.agent_id + " refused";
  ++stats_.identities_refused;
  ++stats_.frames_rejected;
  uint64_t suppressed = 0;
  if (key_ids_log_.due(suppressed)) {
    spdlog::warn("{}", reason);
    event("identity-refused", m.agent_id, 0, reason);
  }
  send(peer, proto::Reject{reason, proto::kProtocolVersion});
  return true;
}

bool Server::refuse_identity(const std::string& peer, const proto::Hello& m,
                             const std::string& public_key) {
  if (config_.security.plain) return false;
  auto owner = store().identity_owner(m.agent_id);
  if (owner.ok() && !owner->has_value()) {
    Status error;
    if (refuse_past_id_allowance(peer, m, public_key, &error)) return true;
    if (!error.ok()) owner = error;
  }
  // Bound to a revoked key: it moves to this one (a device given a new key pair, its old
  // one revoked, was refused its own id for good: "belongs to another enrolled key").
  if (owner.ok() && owner->has_value() && **owner != public_key) {
    auto enrolled = store().enrolled_key_name(**owner);
    if (!enrolled.ok()) owner = enrolled.status();
    if (enrolled.ok() && !enrolled->has_value()) {
      Status error;
      if (refuse_past_id_allowance(peer, m, public_key, &error)) return true;
      Status moved =
          error.ok() ? store().move_identity(m.agent_id, **owner, public_key, now()) : error;
      if (!moved.ok()) {
        owner = moved;
      } else {
        if (auto old = ids_of_key_.find(**owner); old != ids_of_key_.end() && old->second > 0)
          --old->second;
        const std::string why = "agent id " + m.agent_id + " moved from revoked key " + **owner +
                                " to key " + public_key;
        spdlog::info("{}", why);
        event("identity-moved", m.agent_id, 0, why);
        owner = std::optional<std::string>(public_key);
      }
    }
  }
  // A known id's key is its owner; a new one is bound now.
  auto bound = !owner.ok()          ? Result<std::string>(owner.status())
               : owner->has_value() ? Result<std::string>(**owner)
                                    : store().bind_identity(m.agent_id, public_key, now());
  if (!bound.ok()) {
    spdlog::error("binding agent id {}: {}", m.agent_id, bound.status().to_string());
    reply_error(peer, proto::ErrorCode::kInternal, "cannot check the agent id now; try again");
    return true;
  }
  if (*bound != public_key) {
    std::string reason = "agent id " + m.agent_id + " belongs to another enrolled key";
    ++stats_.identities_refused;
    ++stats_.frames_rejected;
    // Said at once the first time in a window, summarized after: a device retrying (or a
    // key trying many ids) costs a counter per attempt, not a line and a row each.
    if (refused_identities_.add(public_key + " " + m.agent_id, reason, Clock::now())) {
      spdlog::warn("{}: refused for key {} (more such claims are summarized every 60 s)", reason,
                   public_key);
      event("identity-refused", m.agent_id, 0, reason + ": claimed by key " + public_key);
    }
    send(peer, proto::Reject{reason, proto::kProtocolVersion});
    return true;
  }
  // A reconnect replaces its own session, so it does not count against the key.
  auto known = by_agent_.find(m.agent_id);
  size_t held = 0;
  for (const auto& [p, s] : sessions_) {
    bool replaced = p == peer || (known != by_agent_.end() && known->second == p);
    held += !replaced && s.public_key == public_key;
  }
  if (held < config_.max_sessions_per_key) return false;
  ++stats_.frames_rejected;
  std::string reason =
      "key " + public_key + " already holds " + std::to_string(held) +
      " session(s) (server.max_sessions_per_key = " + std::to_string(config_.max_sessions_per_key) +
      ")";
  uint64_t suppressed = 0;
  if (key_sessions_log_.due(suppressed)) {
    spdlog::warn("agent {} refused: {}", m.agent_id, reason);
    event("refused-key-sessions", m.agent_id, 0, reason);
  }
  reply_error(peer, proto::ErrorCode::kLimitExceeded, reason, proto::kKeySessions);
  return true;
}

bool Server::within_enrollment_allowance(const Session& s, const std::string& holding) {
  if (config_.security.plain) return true;  // no identity to count by
  auto& enrolled = enrolled_by_key_[s.public_key];
  if (enrolled.count(holding)) return true;
  if (enrolled.size() < config_.max_individuals_per_key) {
    enrolled.insert(holding);
    return true;
  }
  ++stats_.enrollments_refused;
  uint64_t suppressed = 0;
  if (key_individuals_log_.due(suppressed)) {
    std::string reason =
        "key " + s.public_key + " has enrolled " + std::to_string(enrolled.size()) +
        " individual(s) already (server.max_individuals_per_key = " +
        std::to_string(config_.max_individuals_per_key) + "): " + holding + " not enrolled";
    spdlog::warn("agent {}: {}", s.agent_id, reason);
    event("refused-enrollment", s.agent_id, 0, reason);
  }
  return false;
}

void Server::note_refused_handshake(const security::ZapRequest& r, const security::ZapDecision& d) {
  ++stats_.handshakes_refused;
  if (!refused_handshakes_.add(r.address, d.reason, Clock::now())) return;
  // The first refusal from a source in a window: said at once, with the key.
  spdlog::warn(
      "ZAP: refused {} client {} from {}: {} (more from there are summarized every "
      "60 s)",
      r.mechanism, r.public_key.empty() ? "(no key)" : r.public_key, r.address, d.reason);
  event("auth-refused", "", 0, "1 refused handshake(s) from " + r.address + ": " + d.reason);
}

void Server::summarize_refusals(bool all) {
  // At the end of time every window has ended: all held counts come out.
  const Clock::time_point now = all ? Clock::time_point::max() : Clock::now();
  for (const auto& l : refused_handshakes_.due(now)) {
    std::string detail =
        std::to_string(l.count) + " refused handshake(s) from " + l.source + ": last: " + l.reason;
    spdlog::warn("ZAP: {}", detail);
    event("auth-refused", "", 0, detail);
  }
  for (const auto& l : refused_identities_.due(now)) {
    // A source is "<Z85 key> <agent id>" (neither holds a space); the summary's folded
    // lines ("N more sources", "other sources") are not. The count is of claims not said at
    // once: a pair's first claim in a window is, while fewer than 8 pairs were.
    constexpr size_t k = security::kZ85KeyChars;
    const bool pair = l.source.size() > k + 1 && l.source[k] == ' ';
    const std::string id = pair ? l.source.substr(k + 1) : "";
    std::string whose =
        pair ? "agent id " + id + " by key " + l.source.substr(0, k)
             : "agent ids (" + l.source.substr(0, l.source.rfind(' ')) + " (key, id) pairs)";
    std::string detail = std::to_string(l.count) + " refused claim(s) of " + whose +
                         " held back for this summary: last: " + l.reason;
    spdlog::warn("{}", detail);
    event("identity-refused", id, 0, detail);
  }
}

ChunkAccount& Server::chunk_account(const std::string& peer) {
  auto& a = chunk_accounts_[peer];
  if (!a) {
    a = std::make_shared<ChunkAccount>();
    a->total_bytes = queued_bytes_;
  }
  return *a;
}

bool Server::chunk_room(const ChunkAccount& a, uint64_t length) const {
  return a.chunks.load() < static_cast<int64_t>(config_.chunk_credit) &&
         static_cast<uint64_t>(queued_bytes_->load()) + length <= config_.max_queued_bytes;
}

namespace {

// Model bytes in flight to one peer: the mapping they are sent from (or the frame they
// were copied into) and the account that counts them until ZeroMQ releases them.
struct CountedChunk {
  std::shared_ptr<const ModelRegistry::Mapped> mapped;
  std::string frame;
  std::shared_ptr<ChunkAccount> account;
  int64_t bytes = 0;
};

void release_counted(void*, void* hint) {
  auto* h = static_cast<CountedChunk*>(hint);
  h->account->chunks -= 1;
  h->account->bytes -= h->bytes;
  *h->account->total_bytes -= h->bytes;
  h->account->released += 1;
  delete h;
}

}  // namespace

void Server::serve_chunk(Session& s, const proto::ChunkRequest& m) {
  // The registry checks the file is still there at its registered size (a stat per
  // chunk; the database is asked only when the file is first mapped or has changed, so
  // a chunk served from the mapping does not wait for a commit in flight).
  Result<std::shared_ptr<const ModelRegistry::Mapped>> mapped =
      shared_registry_.mapped_before(m.sha256);
  if (!*mapped) mapped = registry().map(m.sha256);
  if (!mapped.ok()) {
    const bool io = mapped.status().code() == Status::Code::kIOError;
    if (io) spdlog::error("serving model {}: {}", m.sha256, mapped.status().to_string());
    return reply_error(s.peer, io ? proto::ErrorCode::kInternal : proto::ErrorCode::kUnknownModel,
                       mapped.status().message(), m.sha256);
  }
  uint64_t size = (*mapped)->size;
  if (m.offset >= size) {
    return reply_error(s.peer, proto::ErrorCode::kBadRequest,
                       "offset " + std::to_string(m.offset) + " is past the end of model " +
                           m.sha256 + " (" + std::to_string(size) + " bytes)",
                       m.sha256);
  }
  size_t length =
      static_cast<size_t>(std::min<uint64_t>({m.length, config_.chunk_size, size - m.offset}));
  std::string_view data((*mapped)->data + m.offset, length);
  // Sent from the mapping when the offset is word aligned (agents ask at multiples of the
  // chunk size): one copy per byte here, into the kernel. Otherwise copied into a frame.
  bool zero_copy = m.offset % 8 == 0;
  auto head = zero_copy ? proto::encode_chunk_head(m.sha256, m.offset, size, data)
                        : proto::encode_chunk_filled(m.sha256, m.offset, size, length,
                                                     [&](char* dst, size_t n) {
                                                       std::memcpy(dst, data.data(), n);
                                                       return Status::ok_status();
                                                     });
  if (!head.ok()) {
    spdlog::error("serving model {}: {}", m.sha256, head.status().to_string());
    return reply_error(s.peer, proto::ErrorCode::kInternal, head.status().message(), m.sha256);
  }
  size_t tail_bytes = zero_copy ? proto::chunk_tail_bytes(length) : 0;
  auto* held = new CountedChunk{*mapped, zero_copy ? std::string() : std::move(head).value(),
                                chunk_accounts_[s.peer], 0};  // the account: made by the caller
  held->bytes = static_cast<int64_t>(zero_copy ? head->size() + tail_bytes : held->frame.size());
  auto& account = *held->account;
  if (account.chunks.load() == 0) account.progress = Clock::now();
  account.chunks += 1;
  account.bytes += held->bytes;
  int64_t total = (*queued_bytes_ += held->bytes);
  stats_.chunk_bytes_queued_peak =
      std::max<uint64_t>(stats_.chunk_bytes_queued_peak, static_cast<uint64_t>(total));
  // From here the release function uncounts the bytes, whether they are sent or dropped.
  Status sent;
  if (zero_copy) {
    zmq::message_t tail(const_cast<char*>(data.data()), tail_bytes, release_counted, held);
    sent = proto::send_parts_to_peer(router_, s.peer, zmq::message_t(head->data(), head->size()),
                                     &tail);
  } else {
    sent = proto::send_parts_to_peer(
        router_, s.peer,
        zmq::message_t(held->frame.data(), held->frame.size(), release_counted, held));
  }
  if (!sent.ok()) return on_send_failure(s.peer, sent, "Chunk");
  ++stats_.chunks_sent;
  stats_.chunk_bytes_sent += length;
}

void Server::serve_waiting_chunks() {
  waiting_requests_ = 0;
  for (auto& [peer, account] : chunk_accounts_) {
    auto& a = *account;
    auto session = sessions_.find(peer);
    if (session == sessions_.end()) {
      a.waiting.clear();
      continue;
    }
    while (!a.waiting.empty() && chunk_room(a, config_.chunk_size)) {
      proto::ChunkRequest m = std::move(a.waiting.front());
      a.waiting.pop_front();
      serve_chunk(session->second, m);
    }
    waiting_requests_ += a.waiting.size();
  }
}

void Server::drop_stalled_peers() {
  auto t = Clock::now();
  auto limit = std::chrono::milliseconds(config_.stall_timeout_ms);
  std::vector<std::string> stalled;
  for (auto& [peer, account] : chunk_accounts_) {
    auto& a = *account;
    uint64_t released = a.released.load();
    if (a.chunks.load() == 0) {
      a.stalled = false;
      a.told = false;
      continue;
    }
    if (released != a.released_seen) {
      a.released_seen = released;
      a.progress = t;
      continue;
    }
    if (!a.stalled && t - a.progress > limit && sessions_.count(peer)) stalled.push_back(peer);
  }
  for (const auto& peer : stalled) {
    auto& a = *chunk_accounts_[peer];
    a.stalled = true;
    waiting_requests_ -= std::min(waiting_requests_, a.waiting.size());
    a.waiting.clear();
    ++stats_.peers_stalled;
    drop_session(peer, "failure",
                 "does not read: " + std::to_string(a.chunks.load()) + " chunk(s) (" +
                     std::to_string(a.bytes.load()) + " bytes) unwritten for more than " +
                     std::to_string(config_.stall_timeout_ms) + " ms");
  }
  // Accounts of departed peers with nothing queued are forgotten.
  for (auto it = chunk_accounts_.begin(); it != chunk_accounts_.end();) {
    bool idle = it->second->chunks.load() == 0 && it->second->waiting.empty() &&
                !sessions_.count(it->first);
    it = idle ? chunk_accounts_.erase(it) : std::next(it);
  }
}

void Server::drop_unreadable_peers() {
  if (unreadable_.empty()) return;
  auto peers = std::move(unreadable_);
  unreadable_.clear();
  for (const auto& peer : peers) {
    if (!sessions_.count(peer)) continue;
    ++stats_.peers_stalled;
    drop_session(peer, "failure", "does not read: its send queue is full");
  }
}

}  // namespace fp::coord
