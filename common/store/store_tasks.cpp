// Store: the task life cycle (pending -> assigned -> done/failed, with requeue).
#include <set>

#include "store/store.h"

namespace fp::store {
namespace {

constexpr const char* kTaskColumns =
    "t.id, t.campaign_id, t.individual, t.status, t.agent_id, t.attempts, t.assigned_at, "
    "t.finished_at, t.error";

TaskRecord read_task(const sql::Statement& s) {
  TaskRecord t;
  t.id = s.column_int(0);
  t.campaign_id = s.column_int(1);
  t.individual = s.column_text(2);
  t.status = s.column_text(3);
  t.agent_id = s.column_text(4);
  t.attempts = s.column_int(5);
  t.assigned_at = s.column_double(6);
  t.finished_at = s.column_double(7);
  t.error = s.column_text(8);
  return t;
}

}  // namespace

Result<int64_t> Store::add_task(int64_t campaign_id, const std::string& individual) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
INSERT INTO tasks (campaign_id, individual) VALUES (?1, ?2)
ON CONFLICT (campaign_id, individual) DO UPDATE SET individual = excluded.individual
RETURNING id)sql"));
  s->bind(1, campaign_id).bind(2, individual);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return Status::internal("adding a task returned no id");
  int64_t id = s->column_int(0);
  FP_ASSIGN_OR_RETURN(bool more, s->step());  // finish the statement
  (void)more;
  return id;
}

Status Store::enroll(const std::string& dataset, const std::string& individual) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
INSERT OR IGNORE INTO tasks (campaign_id, individual)
SELECT id, ?2 FROM campaigns
WHERE dataset = ?1 AND open_enrollment = 1 AND status = 'running')sql"));
  s->bind(1, dataset).bind(2, individual);
  return s->run();
}

Result<std::optional<TaskRecord>> Store::find_pending_task(const std::string& dataset,
                                                           const std::string& individual,
                                                           const std::set<int64_t>& skip) {
  // Rows are one per running campaign with a pending task for this individual (a few), in
  // order; the first outside `skip` is the answer.
  static const std::string sql = std::string("SELECT ") + kTaskColumns + R"sql(
FROM campaigns c CROSS JOIN tasks t ON t.campaign_id = c.id AND t.individual = ?2
WHERE c.status = 'running' AND c.dataset = ?1 AND t.status = 'pending'
ORDER BY t.id)sql";
  // CROSS JOIN keeps campaigns outside: each running campaign's task for this individual
  // is one lookup in UNIQUE (campaign_id, individual), where the planner otherwise walks
  // every pending task (10,000 at the start of a 10,000-agent campaign).
  FP_ASSIGN_OR_RETURN(auto* s, statement(sql.c_str()));
  s->bind(1, dataset).bind(2, individual);
  std::optional<TaskRecord> value;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    TaskRecord task = read_task(*s);
    if (skip.count(task.campaign_id) == 0) {
      value = std::move(task);
      break;
    }
  }
  s->reset();  // release the read snapshot now
  return value;
}

Result<Store::DataTasks> Store::data_tasks(const std::string& dataset,
                                           const std::string& individual) {
  // One lookup per campaign over the data set, in UNIQUE (campaign_id, individual), as
  // find_pending_task does; no row: no task at all.
  static const char* sql =
      R"sql(
SELECT MAX(c.status = 'running' AND t.status IN ('pending', 'assigned'))
FROM campaigns c CROSS JOIN tasks t ON t.campaign_id = c.id AND t.individual = ?2
WHERE c.dataset = ?1 HAVING COUNT(*) > 0)sql";
  FP_ASSIGN_OR_RETURN(auto* s, statement(sql));
  s->bind(1, dataset).bind(2, individual);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  const DataTasks found = !row               ? DataTasks::kNone
                          : s->column_int(0) ? DataTasks::kOpen
                                             : DataTasks::kAllEnded;
  s->reset();
  return found;
}

Result<std::optional<TaskRecord>> Store::task(int64_t id) {
  static const std::string sql =
      std::string("SELECT ") + kTaskColumns + " FROM tasks t WHERE t.id = ?1";
  FP_ASSIGN_OR_RETURN(auto* s, statement(sql.c_str()));
  s->bind(1, id);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return std::optional<TaskRecord>();
  std::optional<TaskRecord> value = read_task(*s);
  s->reset();  // release the read snapshot now
  return value;
}

Result<std::vector<TaskRecord>> Store::tasks(int64_t campaign_id) {
  static const std::string sql = std::string("SELECT ") + kTaskColumns +
                                 " FROM tasks t WHERE ?1 = 0 OR t.campaign_id = ?1 ORDER BY t.id";
  FP_ASSIGN_OR_RETURN(auto* s, statement(sql.c_str()));
  s->bind(1, campaign_id);
  std::vector<TaskRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back(read_task(*s));
  }
  return out;
}

Result<bool> Store::has_unfinished_tasks(int64_t campaign_id) {
  FP_ASSIGN_OR_RETURN(auto* s, statement("SELECT EXISTS (SELECT 1 FROM tasks WHERE status IN "
                                         "('pending', 'assigned') AND campaign_id = ?1)"));
  s->bind(1, campaign_id);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  const bool unfinished = row && s->column_int(0) != 0;
  // Released now: a statement left on its row keeps its read snapshot, so a later write on
  // this connection, outside a transaction, finds the snapshot stale ("database is locked").
  s->reset();
  return unfinished;
}

Result<TaskCounts> Store::task_counts(int64_t campaign_id) {
  FP_ASSIGN_OR_RETURN(
      auto* s,
      // Naming every status lets tasks_by_status (status, campaign_id) answer from the
      // index alone; by campaign_id only, SQLite reads each task's row (5x slower).
      statement("SELECT status, COUNT(*) FROM tasks WHERE status IN ('pending', 'assigned', "
                "'done', 'failed') AND campaign_id = ?1 GROUP BY status"));
  s->bind(1, campaign_id);
  TaskCounts counts;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    std::string status = s->column_text(0);
    int64_t n = s->column_int(1);
    if (status == "pending") counts.pending = n;
    if (status == "assigned") counts.assigned = n;
    if (status == "done") counts.done = n;
    if (status == "failed") counts.failed = n;
  }
  return counts;
}

Status Store::assign_task(int64_t task_id, const std::string& agent_id, double at,
                          bool new_attempt) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
UPDATE tasks SET status = 'assigned', agent_id = ?2, attempts = attempts + ?4, assigned_at = ?3
WHERE id = ?1 AND status = 'pending')sql"));
  s->bind(1, task_id).bind(2, agent_id).bind(3, at).bind(4, int64_t{new_attempt ? 1 : 0});
  FP_RETURN_IF_ERROR(s->run());
  if (db_->changes() != 1) {
    return Status::invalid_argument("task " + std::to_string(task_id) + " is not pending");
  }
  return Status::ok_status();
}

Result<bool> Store::requeue_task(int64_t task_id, bool keep_holder) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
UPDATE tasks SET status = 'pending', agent_id = CASE WHEN ?2 THEN agent_id ELSE '' END
WHERE id = ?1 AND status = 'assigned')sql"));
  s->bind(1, task_id).bind(2, int64_t{keep_holder ? 1 : 0});
  FP_RETURN_IF_ERROR(s->run());
  return db_->changes() == 1;
}

Status Store::finish_task(int64_t task_id, bool ok, const std::string& error, double at) {
  FP_ASSIGN_OR_RETURN(
      auto* s,
      statement("UPDATE tasks SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1"));
  s->bind(1, task_id).bind(2, std::string(ok ? "done" : "failed")).bind(3, error).bind(4, at);
  FP_RETURN_IF_ERROR(s->run());
  if (db_->changes() != 1) return Status::not_found("task " + std::to_string(task_id));
  return Status::ok_status();
}

Result<std::vector<int64_t>> Store::requeue_all_assigned() {
  FP_ASSIGN_OR_RETURN(
      auto* s,
      statement("UPDATE tasks SET status = 'pending' WHERE status = 'assigned' RETURNING id"));
  std::vector<int64_t> ids;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    ids.push_back(s->column_int(0));
  }
  return ids;
}

Result<std::vector<int64_t>> Store::retry_failed_tasks(int64_t campaign_id, double at) {
  sql::Transaction tx(*db_);
  FP_RETURN_IF_ERROR(tx.begin_status());
  std::vector<EventRecord> retried;
  std::set<int64_t> campaigns;
  {
    FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
SELECT id, campaign_id, agent_id, error FROM tasks
WHERE status = 'failed' AND (?1 = 0 OR campaign_id = ?1) ORDER BY id)sql"));
    s->bind(1, campaign_id);
    while (true) {
      FP_ASSIGN_OR_RETURN(bool row, s->step());
      if (!row) break;
      EventRecord e;
      e.at = at;
      e.kind = "retry";
      e.task_id = s->column_int(0);
      campaigns.insert(s->column_int(1));
      e.agent_id = s->column_text(2);
      e.detail = "failed before: " + s->column_text(3);
      retried.push_back(std::move(e));
    }
  }
  std::vector<int64_t> ids;
  if (retried.empty()) return ids;
  FP_ASSIGN_OR_RETURN(auto* requeue, statement(R"sql(
UPDATE tasks SET status = 'pending', attempts = 0, error = '', assigned_at = 0, finished_at = 0
WHERE id = ?1)sql"));
  for (const auto& e : retried) {
    requeue->reset();
    requeue->bind(1, e.task_id);
    FP_RETURN_IF_ERROR(requeue->run());
    ids.push_back(e.task_id);
  }
  FP_ASSIGN_OR_RETURN(
      auto* reopen,
      statement("UPDATE campaigns SET status = 'running' WHERE id = ?1 AND status = 'done'"));
  for (int64_t c : campaigns) {
    reopen->reset();
    reopen->bind(1, c);
    FP_RETURN_IF_ERROR(reopen->run());
  }
  FP_RETURN_IF_ERROR(add_events(retried));
  FP_RETURN_IF_ERROR(tx.commit());
  return ids;
}

}  // namespace fp::store
