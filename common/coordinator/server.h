// The coordinator's serving loop: one ZeroMQ ROUTER, one thread.
//
// Agents (DEALERs) say Hello, get a Welcome and a TaskAssignment for an individual
// whose data they hold, fetch the model in chunks (they keep at most chunk_credit
// requests in flight), send TelemetryReports (acknowledged after they are committed,
// stored once per idempotency key) and a TaskStatus. Liveness: the loop heartbeats
// every agent each tick and drops an agent not heard from for `liveness` ticks,
// putting its task back in the queue. Frames are size-limited, decoded with limits
// and validated; a bad frame gets an Error naming the reason and is otherwise ignored.
// Writes are committed once per loop iteration (a burst of messages and a tick); the
// replies of the burst, but for model chunks, are sent only after that commit, so no
// agent acts on a write (an assignment, an acknowledged report) that a crash could lose.
// A burst that wrote only reports and events commits on the CommitWorker's thread while
// the loop reads on (bursts arriving meanwhile wait for the next commit); replies still
// follow their commit, and the loop touches the store only with no commit in flight
// (store()), but for the report checks' reads of tasks, made through a second, read-only
// connection (store_for_task_reads()).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <zmq.hpp>

#include "coordinator/campaign_policy.h"
#include "coordinator/commit_worker.h"
#include "coordinator/model_registry.h"
#include "coordinator/rate_limit.h"
#include "coordinator/server_config.h"
#include "coordinator/waker.h"
#include "protocol/limits.h"
#include "protocol/messages.h"
#include "security/curve.h"
#include "security/handshake_monitor.h"
#include "security/refusal_summary.h"
#include "security/zap_handler.h"
#include "store/store.h"

namespace fp::coord {

struct ServerStats {
  uint64_t frames_in = 0, frames_rejected = 0;
  uint64_t reports_stored = 0, reports_duplicate = 0, reports_failed = 0;
  uint64_t task_results = 0;  // TaskResult messages (a task's reports in one)
  uint64_t chunks_sent = 0, chunk_bytes_sent = 0;
  uint64_t agents_dropped = 0, tasks_requeued = 0;
  uint64_t frames_rate_limited = 0, agents_refused_full = 0, agents_revoked = 0;
  uint64_t handshakes_failed = 0, handshakes_refused = 0;
  uint64_t chunk_requests_refused = 0, chunk_requests_deferred = 0, chunk_bytes_queued_peak = 0;
  uint64_t peers_stalled = 0, tasks_past_deadline = 0, identities_refused = 0;
  uint64_t enrollments_refused = 0;    // individuals past a key's max_individuals_per_key
  uint64_t frames_ignored_unread = 0;  // from peers dropped for not reading
  uint64_t commits_in_background = 0;  // commits by the commit worker (each of one or more bursts)
  uint64_t commits_on_loop = 0;        // bursts' transactions the loop committed itself
  uint64_t ticks = 0;                  // heartbeat ticks handled
  uint64_t enrolled_key_reads = 0;     // reads of every enrolled key (CURVE: for revocations)
  double commit_seconds = 0;           // the worker's time in those commits
  // Gauge: tasks whose facts the loop keeps (assigned or reported on, not yet ended): a
  // days-long coordinator kept one entry per task it ever served.
  uint64_t tasks_cached = 0;
};

// At most one log line per `every` for a repeated warning, with how many were held back.
struct LogThrottle {
  std::chrono::steady_clock::duration every = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point last{};
  uint64_t held = 0;
  // True when this occurrence should be logged; `held_back` gets the count suppressed.
  bool due(uint64_t& held_back) {
    auto now = std::chrono::steady_clock::now();
    if (last != std::chrono::steady_clock::time_point{} && now - last < every) {
      ++held;
      return false;
    }
    last = now;
    held_back = held;
    held = 0;
    return true;
  }
};

// Model chunks handed to ZeroMQ for one peer and not yet written to its socket. ZeroMQ
// releases a chunk's buffer once it is written; the release (on ZeroMQ's I/O thread)
// decrements these counters, so the coordinator knows what a peer has left unread.
struct ChunkAccount {
  std::atomic<int64_t> chunks{0}, bytes{0};
  std::atomic<uint64_t> released{0};
  std::shared_ptr<std::atomic<int64_t>> total_bytes;  // all peers' (the server's)
  // Loop thread only.
  std::deque<proto::ChunkRequest> waiting;  // beyond the credit: served as chunks drain
  uint64_t released_seen = 0;
  std::chrono::steady_clock::time_point
      progress;          // last time a chunk was written while some were queued
  bool stalled = false;  // dropped for not reading; ignored until it drains
  bool told = false;     // its requests beyond the credit were refused (said once)
};

class Server {
 public:
  Server(ServerConfig config, zmq::context_t& context, store::Store& store,
         ModelRegistry& registry);
  ~Server();

  // Binds the ROUTER; the actual endpoint (port resolved) is then bound_endpoint().
  Status bind();
  const std::string& bound_endpoint() const { return bound_endpoint_; }

  // Serves until request_stop(), a signal (handle_signals) or, with exit_when_done,
  // the end of every campaign; binds first if bind() was not called. Returns an error if
  // binding, polling, the store or `on_serving` fails.
  // `on_serving` runs once a stop (and a signal) is handled, before the first message is:
  // where a program says it is ready (an endpoint file), so a supervisor that stops it
  // then gets a clean stop.
  Status run(const std::function<Status()>& on_serving = {});
  void request_stop();  // thread-safe
  const ServerStats& stats() const { return stats_; }
  // Frames the loop took in so far (stats().frames_in), readable from any thread.
  uint64_t frames_received() const { return frames_received_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Session {
    std::string peer, agent_id, session_id, instance_id;
    std::string public_key;  // CURVE: the enrolled key it connected with
    std::vector<std::pair<std::string, std::string>> holdings;  // (dataset, individual)
    Clock::time_point last_heard;
    Clock::time_point last_seen_written;  // last_seen's last write (join, or a tick)
    int64_t task_id = 0;
    // The assignment as sent, so it can be sent again if the agent never got it.
    proto::TaskAssignment assignment;
    Clock::time_point assigned_at;
    std::string model_sha256;       // its task's model: the only one it may fetch
    Clock::time_point deadline;     // its task goes back to the queue after this
    int64_t overdue_task = 0;       // a task taken back at its deadline that it still works on
    bool leaves_when_done = false;  // Hello: tell it when no task is left on its data
    int idle_ticks = 0;             // heartbeat ticks in a row it had no task at
    bool told_no_task_left = false;
  };

  // server.cpp: loop, ticks, shutdown.
  Status bind_security();
  void drain_router();
  void on_tick();
  void shutdown();
  // Writes the reports and events waiting (flush) or the reports alone (store_reports: a
  // task's status needs the reports received before it stored first; its burst's events
  // wait for the burst's end, one write for all of them).
  Status flush();
  Status store_reports();
  // A burst: the iteration's messages and tick. Its replies are held back until its
  // writes are committed. The loop's writes go in one transaction, opened at its first
  // store access; end_burst flushes, commits and then sends the replies. A burst whose
  // only writes are reports and events hands them to the commit worker instead, or, while
  // the worker commits earlier ones, leaves them (and its replies) for its next commit.
  void begin_burst();
  Status end_burst();
  // How long the open burst may still wait for more messages before it commits
  // (ServerConfig::commit_delay_ms), or nothing: it commits at the end of this iteration.
  std::optional<std::chrono::milliseconds> commit_wait() const;
  // Every store access of the loop goes through here: it first waits for the commit in
  // flight (sending its replies), then opens the burst's transaction if need be.
  store::Store& store();
  ModelRegistry& registry();  // reads the store too
  // The report checks' reads of tasks and campaigns: through reader_ while the loop has
  // nothing uncommitted on the shared connection (no burst transaction open), so they
  // neither wait for the commit in flight nor open a burst transaction, which commits the
  // burst on the loop's thread (a resent outbox, a report per task read: no commit went to
  // the worker); store() otherwise. The commit in flight writes reports and events only.
  store::Store& store_for_task_reads();
  void open_burst_transaction();
  // With the worker idle: hands it the reports and events waiting, or sends the replies
  // waiting if nothing is to be written.
  void commit_pending();
  void commit_in_background();
  struct BackgroundCommit;
  Status commit_background(BackgroundCommit& b);  // on the worker's thread
  Status commit_everything();  // at the end: the commit in flight, then what waits
  bool reports_full() const;   // a batch of reports waits: read no more
  // Waits for the background commit, if any, and sends its replies; its error is fatal.
  Status finish_commit();
  void send_held(std::vector<std::pair<std::string, std::string>>& held);  // and clears it
  // Counts an insert's outcome in stats_ (a failure is also logged).
  void count_insert(const store::TelemetryRecord& report, const store::TelemetryInsert& outcome);
  void acknowledge(const std::vector<store::TelemetryRecord>& reports,
                   const std::vector<std::string>& peers,
                   const std::vector<store::TelemetryInsert>& outcomes,
                   std::vector<std::pair<std::string, std::string>>& out);
  void send(const std::string& peer, proto::Message message);
  void reply_error(const std::string& peer, proto::ErrorCode code, const std::string& reason,
                   const std::string& ref = "");
  void event(const std::string& kind, const std::string& agent_id, int64_t task_id,
             const std::string& detail);
  double now() const;

  // server_messages.cpp: decoding and per-message handling.
  void handle_frame(const std::string& peer, const zmq::message_t& payload, size_t extra_parts);
  void on_hello(const std::string& peer, const proto::Hello& m, const std::string& public_key);
  void on_chunk_request(Session& s, const proto::ChunkRequest& m);
  // A report's row if its task is this agent's; otherwise says why to the agent (nullopt).
  std::optional<store::TelemetryRecord> accept_report(Session& s, const proto::TelemetryReport& m);
  void on_report(Session& s, const proto::TelemetryReport& m);
  void on_task_status(Session& s, const proto::TaskStatus& m);
  void on_task_result(Session& s, const proto::TaskResult& m);
  void on_goodbye(Session& s, const proto::Goodbye& m);
  void on_heartbeat(Session& s, const proto::Heartbeat& m);

  // server_limits.cpp: rate limits, the agent limit, revoked keys, identities.
  bool within_rate(const std::string& peer);
  bool refuse_if_full(const std::string& peer, const proto::Hello& m);
  // CURVE: refuses (and returns true for) a Hello whose id is bound to another enrolled
  // key, whose new id would pass its key's max_ids_per_key, or whose key holds
  // max_sessions_per_key sessions already. An id bound to a revoked key moves to this one
  // (a device given a new key pair keeps its id), as a new id would be bound.
  bool refuse_identity(const std::string& peer, const proto::Hello& m,
                       const std::string& public_key);
  // A new id for `public_key`, or one moving to it: refused (said, and true) past the key's
  // max_ids_per_key, else counted. `error`: the count could not be read.
  bool refuse_past_id_allowance(const std::string& peer, const proto::Hello& m,
                                const std::string& public_key, Status* error);
  // False (said, throttled) when the session's key has added max_individuals_per_key other
  // individuals to open-enrollment campaigns in this run; `holding` is "dataset/individual".
  bool within_enrollment_allowance(const Session& s, const std::string& holding);
  // Drops sessions whose key was revoked (CURVE), reading every key only when the store
  // was changed by another connection since it last did.
  void drop_revoked();
  void forget_idle_peers();
  void note_refused_handshake(const security::ZapRequest& r, const security::ZapDecision& d);
  // Summaries of held-back refusals (handshakes, agent ids) once their window ended; `all`: now.
  void summarize_refusals(bool all);

  // server_limits.cpp: model chunks within each peer's credit and the total budget.
  void serve_chunk(Session& s, const proto::ChunkRequest& m);
  bool chunk_room(const ChunkAccount& a, uint64_t length) const;
  void serve_waiting_chunks();
  void drop_stalled_peers();
  ChunkAccount& chunk_account(const std::string& peer);
  // A send refused: a full queue marks the peer unreadable (dropped next loop).
  void on_send_failure(const std::string& peer, const Status& s, const char* what);
  void drop_unreadable_peers();

  // server_tasks.cpp: assignment, requeue, completion.
  void try_assign(Session& s);
  // True while a campaign's tasks wait for its model file to come back (model_wait_s):
  // `problem` logged and recorded once, when first seen.
  bool waits_for_model(const store::CampaignRecord& campaign, const Status& problem);
  // An agent that leaves when done (Hello.leavesWhenDone), idle for a whole heartbeat
  // interval, whose data had tasks and has none pending or running in any running campaign,
  // is told so once (Goodbye.noTaskLeft): it would otherwise wait for one in vain.
  void tell_if_no_task_left(Session& s);
  // An agent joining with data no campaign has a task for is said (a warning and an event
  // `taskless-data`), once per agent and coordinator run.
  void warn_if_taskless_data(const Session& s);
  // A store write that failed stops the loop with its error (the first one is kept): the
  // database cannot be trusted with the next; `what` names the write.
  void must_write(const Status& written, const char* what);
  void drop_session(const std::string& peer, const std::string& kind, const std::string& why);
  void requeue(int64_t task_id, const std::string& agent_id, const std::string& why,
               bool keep_holder = true);
  // The task's deadline, from its model's size (looked up; or as the assignment found it).
  void start_task_clock(Session& s, int64_t task_id);
  void start_task_clock(Session& s, int64_t task_id, const std::string& model_sha256,
                        int64_t model_bytes);
  void requeue_overdue();
  // May this session report on, or finish, task `task_id`? (the coordinator assigned it
  // to it, and it has not failed) `read`: the task as just read from the store, if it was
  // (no second read for it).
  bool holds(const Session& s, int64_t task_id, const store::TaskRecord* read = nullptr);
  void check_campaign(int64_t campaign_id);
  bool all_campaigns_finished();
  // What a report on a task must agree with, read once per task and kept: its campaign
  // and its individual (with the methods its campaign asked for, campaign_methods()). A
  // report naming another individual or method was stored under it and mixed into that
  // individual's results.
  struct TaskFacts {
    int64_t campaign_id = 0;
    std::string individual;
  };
  // `read`, when given, receives the task's record where it was read from the store now
  // (not cached). An ended task's facts are not kept: the pointer holds until the next call.
  Result<const TaskFacts*> task_facts(int64_t task_id,
                                      std::optional<store::TaskRecord>* read = nullptr);
  Result<const std::vector<std::string>*> campaign_methods(int64_t campaign_id);
  // Keeps, or drops at its end, a task's facts (a late report on an ended task, a resent
  // outbox, reads it again).
  const TaskFacts* keep_task_facts(int64_t task_id, TaskFacts facts);
  void forget_task(int64_t task_id);
  // "" when report `m` may be stored for task `facts`, else why not.
  Result<std::string> report_problem(const proto::TelemetryReport& m, const TaskFacts& facts);

  ServerConfig config_;
  std::shared_ptr<CampaignPolicy> policy_;  // config_.policy or the default
  zmq::context_t& context_;
  // Only through store() / registry(): the commit worker uses the same connection.
  store::Store& shared_store_;
  ModelRegistry& shared_registry_;
  // A read-only second connection to the store's file (none for an in-memory store, or
  // where it could not be opened: reads then wait for commits).
  std::unique_ptr<store::Store> reader_;
  zmq::socket_t router_;
  std::unique_ptr<LoopWaker> waker_;  // set and reset under waker_mutex_ (request_stop)
  std::mutex waker_mutex_;
  // A stop asked before run() made its waker (a test that ends at once): run() sees it.
  std::atomic<bool> stop_requested_{false};
  std::atomic<uint64_t> frames_received_{0};
  std::unique_ptr<security::ZapHandler> zap_;            // curve only
  std::unique_ptr<security::HandshakeMonitor> monitor_;  // curve only
  LogThrottle handshake_log_, full_log_, reject_log_, key_sessions_log_, burst_log_;
  LogThrottle key_ids_log_, key_individuals_log_;  // a key past its allowances
  security::RefusalSummary refused_handshakes_{std::chrono::seconds(60), 256};
  // Claims of an agent id bound to another key, by "<key> <id>": the first in a window said
  // at once, the rest summarized (a set of pairs said once went silent after 10,000 pairs).
  security::RefusalSummary refused_identities_{std::chrono::seconds(60), 256};
  // Agents whose data no campaign has a task for, said once per coordinator run.
  std::set<std::string> told_of_taskless_data_;
  // drop_revoked: the store's data_version when it last read every key, and the keys of
  // sessions admitted since (looked up one by one while that version stands).
  int64_t keys_version_ = -1;
  std::set<std::string> keys_unlooked_;
  std::map<std::string, int64_t> ids_of_key_;  // agent ids bound to a key (read once per key)
  std::map<std::string, std::set<std::string>> enrolled_by_key_;  // individuals it added
  std::string bound_endpoint_;
  bool stopping_ = false;
  bool all_done_ = false;  // stopping because every campaign is finished (exit_when_done)
  Status failure_;

  std::unordered_map<std::string, Session> sessions_;      // by peer identity
  std::unordered_map<std::string, std::string> by_agent_;  // agent id -> peer
  std::unordered_map<int64_t, TaskFacts> task_facts_;      // cache, of tasks not yet ended
  TaskFacts ended_task_facts_;                             // the last ended task read
  std::unordered_map<int64_t, std::vector<std::string>> campaign_methods_;  // cache
  // Why a report its own agent sent on a task was refused for good (another individual, a
  // method its campaign did not ask for), until the task's status: it fails the task (its
  // status counting that report waited for it for ever, and the agent resent it for ever).
  // Kept with the agent that sent it: the task may go to another agent since.
  struct RefusedReport {
    std::string agent_id, why;
  };
  std::unordered_map<int64_t, RefusedReport> refused_reports_;
  // The refusal `agent_id`'s report on `task_id` met, if any (another agent's is dropped).
  const RefusedReport* refused_report(int64_t task_id, const std::string& agent_id);
  // Tasks the previous run left assigned (requeued at start), until assigned again.
  std::unordered_set<int64_t> restart_orphans_;
  // Models whose file was found missing or damaged, since when (until it is usable again).
  std::unordered_map<std::string, Clock::time_point> model_missing_since_;
  // Reports awaiting the next commit, and who sent each (for the Ack).
  std::vector<store::TelemetryRecord> reports_;
  std::vector<std::string> report_peers_;
  std::vector<store::EventRecord> events_;
  bool bursting_ = false;        // replies are held
  bool burst_unopened_ = false;  // BEGIN failed this burst
  std::string database_id_;      // the store's identity, for Welcomes (read at the first Hello)
  ServerStats before_burst_;     // the counters as the burst began: a failed commit restores them
  std::unique_ptr<sql::Transaction> burst_;                // the burst's writes, once any
  std::chrono::steady_clock::time_point burst_opened_;     // commits by + commit_delay_ms
  std::vector<std::pair<std::string, std::string>> held_;  // (peer, frame) until its commit
  // The bursts committing on the worker: their writes and the replies that wait for
  // them. While it runs, the worker reads reports and events and sets outcomes; the
  // loop touches none of it (what arrives meanwhile waits in reports_, events_, held_).
  struct BackgroundCommit {
    std::vector<store::TelemetryRecord> reports;
    std::vector<std::string> report_peers;
    std::vector<store::EventRecord> events;
    std::vector<std::pair<std::string, std::string>> held;
    double seconds = 0;  // the commit's duration
    Result<std::vector<store::TelemetryInsert>> outcomes = std::vector<store::TelemetryInsert>{};
  };
  BackgroundCommit background_;
  std::unique_ptr<CommitWorker> worker_;
  struct PeerRate {
    TokenBucket bucket;
    bool told = false;  // this burst's excess was explained to the peer already
    Clock::time_point last;
  };
  std::unordered_map<std::string, PeerRate> rates_;  // by peer identity
  std::unordered_map<std::string, std::shared_ptr<ChunkAccount>> chunk_accounts_;  // by peer
  std::shared_ptr<std::atomic<int64_t>> queued_bytes_ = std::make_shared<std::atomic<int64_t>>(0);
  size_t waiting_requests_ = 0;       // ChunkAccount::waiting over all peers
  std::set<std::string> unreadable_;  // peers whose send queue was full: dropped next
  ServerStats stats_;
};

}  // namespace fp::coord
