// The coordinator's persistent state in one SQLite file: agents, models,
// campaigns, tasks, telemetry and events (schema in migrations.cpp).
//
// WAL journal with synchronous=NORMAL, foreign keys on, statements prepared once
// and reused, multi-row writes in one transaction. A Store is used by one thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/records.h"
#include "store/sqlite.h"
#include "util/status.h"

namespace fp::store {

enum class InsertOutcome { kInserted, kDuplicate, kFailed };

struct TelemetryInsert {
  InsertOutcome outcome = InsertOutcome::kFailed;
  std::string error;  // why, for kFailed
};

struct TaskCounts {
  int64_t pending = 0, assigned = 0, done = 0, failed = 0;
  int64_t total() const { return pending + assigned + done + failed; }
};

// The status of an open-enrollment campaign that a newer one over the same data set
// replaced (coordinator/campaign_setup.h): no device joins it and none of its tasks is handed
// out; its reports stay.
inline constexpr const char* kCampaignSuperseded = "superseded";

class Store {
 public:
  // Opens or creates the database and migrates it to the latest schema.
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  // The database as it is, for a program that must change nothing (fp-coordinator serve
  // --check): opened read-only when its schema is this program's. An older one is copied
  // into `scratch_folder` (SQLite's VACUUM INTO: consistent while a coordinator writes the
  // file) and the copy migrated, as a start would migrate the file; `migrated_from` then
  // receives its schema version (0 otherwise). A missing file is NotFound, nothing made.
  static Result<std::unique_ptr<Store>> open_unchanged(const std::string& path,
                                                       const std::string& scratch_folder,
                                                       int* migrated_from = nullptr);

  // A second, read-only connection to the database at `path`, which this process opened
  // with open() (its schema must be current; no integrity check run again): reads beside the
  // writing connection, WAL letting them go on while another thread commits through it. They see
  // what is committed only. The coordinator reads tasks through one while its commit
  // worker writes reports.
  static Result<std::unique_ptr<Store>> open_reader(const std::string& path);

  // A consistent copy of the database at `path` in the new file `copy`: what is committed
  // when it starts, while a coordinator may go on writing (SQLite's VACUUM INTO, compacted),
  // flushed to disk. The original is opened read-only and checked intact first; `copy`
  // must not exist. For backups (fp-coordinator backup).
  static Status copy(const std::string& path, const std::string& copy);

  int schema_version();
  // This database's identity: 32 random hex digits, made when it was created (or
  // migrated to schema 9), the same for as long as the file lives.
  Result<std::string> identity();
  sql::Database& db() { return *db_; }
  // The database file this store reads: for a migrated copy (open_unchanged), the original,
  // which is what messages name (the copy is a scratch file the user never gave).
  const std::string& path() const { return path_; }

  // Agents.
  Status upsert_agent(const AgentRecord& agent);  // keeps first_seen of a known agent
  Status set_agent_status(const std::string& agent_id, const std::string& status, double at);
  Result<std::vector<AgentRecord>> agents();

  // Models (content-addressed; a second put of the same hash is a no-op).
  Status put_model(const ModelRecord& model);
  Result<std::optional<ModelRecord>> find_model(const std::string& sha256);
  // In registration order (the table's insertion order, not created_at: a clock that ran
  // ahead when one was registered would make it "latest" for good).
  Result<std::vector<ModelRecord>> models();

  // Campaigns. create_campaign fails if the name exists.
  Result<int64_t> create_campaign(const CampaignRecord& campaign);
  Result<std::optional<CampaignRecord>> find_campaign(const std::string& name);
  Result<std::optional<CampaignRecord>> campaign(int64_t id);
  Result<std::vector<CampaignRecord>> campaigns();
  // "running", "done" (a fixed list's tasks all ended) or kCampaignSuperseded.
  Status set_campaign_status(int64_t id, const std::string& status);
  // A running campaign "done" in one statement that finds none of its tasks pending or
  // assigned (false: not done, and unchanged): a `retry` beside the coordinator may have put
  // tasks back since the coordinator counted them.
  Result<bool> mark_campaign_done(int64_t id);

  // Tasks.
  Result<int64_t> add_task(int64_t campaign_id, const std::string& individual);
  // Creates tasks for (dataset, individual) in every running open-enrollment campaign.
  Status enroll(const std::string& dataset, const std::string& individual);
  // The oldest pending task of a running campaign over `dataset` for `individual`, in none
  // of the campaigns `skip` names.
  Result<std::optional<TaskRecord>> find_pending_task(const std::string& dataset,
                                                      const std::string& individual,
                                                      const std::set<int64_t>& skip = {});
  // What the campaigns over `dataset` hold for `individual`: no task at all, tasks that all
  // ended, or one still pending or assigned (to anyone) in a running campaign.
  enum class DataTasks { kNone, kAllEnded, kOpen };
  Result<DataTasks> data_tasks(const std::string& dataset, const std::string& individual);
  Result<std::optional<TaskRecord>> task(int64_t id);
  Result<std::vector<TaskRecord>> tasks(int64_t campaign_id = 0);  // 0: all
  Result<TaskCounts> task_counts(int64_t campaign_id);
  // True while the campaign has a pending or assigned task: one indexed lookup, for the
  // check after every finished task (counting all tasks there is O(tasks) each time).
  Result<bool> has_unfinished_tasks(int64_t campaign_id);
  // pending -> assigned; fails unless the task is pending. A reclaim (an agent that
  // kept working through a coordinator restart) does not count as a new attempt.
  Status assign_task(int64_t task_id, const std::string& agent_id, double at,
                     bool new_attempt = true);
  // assigned -> pending (agent went silent or left); false when it was not assigned.
  // With keep_holder the task remembers its agent (agent_id), which alone may reclaim it
  // (Hello.currentTaskId) or report for it until it is assigned to another agent.
  Result<bool> requeue_task(int64_t task_id, bool keep_holder = true);
  // -> done / failed.
  Status finish_task(int64_t task_id, bool ok, const std::string& error, double at);
  // Tasks left assigned by a coordinator that stopped: back to pending, each keeping its
  // agent (who may reclaim it). Returns their ids.
  Result<std::vector<int64_t>> requeue_all_assigned();
  // Failed tasks of campaign `campaign_id` (0: of every campaign) back to pending, to be run
  // again: their attempts and error cleared (an event "retry" per task keeps the error), each
  // keeping its agent; their campaigns running again if done. One transaction. Returns their
  // ids, in id order.
  Result<std::vector<int64_t>> retry_failed_tasks(int64_t campaign_id, double at);

  // Telemetry: one transaction for the batch; a report for a (task, method) that already
  // has a row is kDuplicate (a resent report, whatever its key: keys are not unique).
  Result<std::vector<TelemetryInsert>> insert_telemetry(
      const std::vector<TelemetryRecord>& records);
  // Rows in id order (the order they were stored); campaign 0: every campaign's; only
  // rows with an id above `after_id` (to read what arrived since a previous call).
  Result<std::vector<TelemetryRecord>> telemetry(int64_t campaign_id = 0, int64_t after_id = 0);
  // Rows of campaign `campaign_id` (0: all) with an id up to `up_to_id`.
  Result<int64_t> telemetry_count(int64_t campaign_id = 0, int64_t up_to_id = INT64_MAX);
  // Rows of task `task_id` (one per method at most).
  Result<int64_t> task_report_count(int64_t task_id);

  // Enrolled CURVE keys (store_keys.cpp). Enrolling a known key renames it and lifts
  // a revocation; revoke_key matches a key or a name and returns how many it revoked.
  // A name is 1 to kMaxKeyNameBytes of text without control characters.
  static constexpr size_t kMaxKeyNameBytes = 128;
  Status enroll_key(const std::string& public_key, const std::string& name, double at);
  Result<int64_t> revoke_key(const std::string& key_or_name, double at);
  // The name of an enrolled, unrevoked key, or nothing.
  Result<std::optional<std::string>> enrolled_key_name(const std::string& public_key);
  Result<std::vector<AgentKeyRecord>> agent_keys();
  // Binds `agent_id` to `public_key` unless it is bound already; returns the key it is
  // bound to (the given one, or the one that claimed the id first).
  Result<std::string> bind_identity(const std::string& agent_id, const std::string& public_key,
                                    double at);
  // The key `agent_id` is bound to, if any; how many ids `public_key` has bound.
  Result<std::optional<std::string>> identity_owner(const std::string& agent_id);
  // Binds `agent_id` to `to_key` where `from_key` holds it (its key revoked; the caller checks).
  Status move_identity(const std::string& agent_id, const std::string& from_key,
                       const std::string& to_key, double at);
  Result<int64_t> count_identities(const std::string& public_key);

  // Events. With keep_newest_events(n) (n > 0), add_events removes the oldest beyond the
  // newest n as it adds, at most kEventsTrimmedAtOnce a call (a database holding far more
  // catches up over several calls, no long stall): a coordinator serving for months, its
  // devices reconnecting, grew the table by ~100 B an event for ever. 0: keep every event.
  static constexpr int64_t kEventsTrimmedAtOnce = 10000;
  void keep_newest_events(int64_t n) { events_kept_ = n; }
  Status add_events(const std::vector<EventRecord>& events);
  // The newest `limit` events, oldest first.
  Result<std::vector<EventRecord>> events(int64_t limit = 1000);

 private:
  explicit Store(std::unique_ptr<sql::Database> db) : db_(std::move(db)), path_(db_->path()) {}
  // The statement for `sql`, prepared on first use and reset for reuse.
  Result<sql::Statement*> statement(const char* sql);

  std::unique_ptr<sql::Database> db_;
  std::string path_;
  std::map<const char*, sql::Statement> statements_;
  int64_t events_kept_ = 0;  // 0: all
};

}  // namespace fp::store
