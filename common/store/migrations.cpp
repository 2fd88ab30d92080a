#include "store/migrations.h"

#include <spdlog/spdlog.h>

namespace fp::store {

const std::vector<std::string>& migrations() {
  static const std::vector<std::string> all = {
      // 1: the tables.
      R"sql(
CREATE TABLE agents (
  agent_id TEXT PRIMARY KEY,
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL,
  threads INTEGER NOT NULL DEFAULT 0,
  memory_mb INTEGER NOT NULL DEFAULT 0,
  datasets_json TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL DEFAULT 'online',
  session_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE models (
  sha256 TEXT PRIMARY KEY,
  size_bytes INTEGER NOT NULL,
  spec_json TEXT NOT NULL,
  meta_json TEXT NOT NULL DEFAULT '{}',
  path TEXT NOT NULL,
  created_at REAL NOT NULL
);
CREATE TABLE campaigns (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  model_sha256 TEXT NOT NULL REFERENCES models(sha256),
  dataset TEXT NOT NULL,
  prune_config_json TEXT NOT NULL,
  baselines_json TEXT NOT NULL DEFAULT '[]',
  sweep_targets_json TEXT NOT NULL DEFAULT '[]',
  open_enrollment INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'running',
  created_at REAL NOT NULL
);
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  individual TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'assigned', 'done', 'failed')),
  agent_id TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  assigned_at REAL NOT NULL DEFAULT 0,
  finished_at REAL NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  UNIQUE (campaign_id, individual)
);
CREATE TABLE telemetry (
  id INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  agent_id TEXT NOT NULL,
  method TEXT NOT NULL,
  individual TEXT NOT NULL,
  target_sparsity REAL NOT NULL,
  sparsity REAL NOT NULL,
  overall_sparsity REAL NOT NULL,
  layer_sparsity_json TEXT NOT NULL,
  accuracy_before REAL,
  accuracy_after REAL,
  curve_json TEXT NOT NULL,
  adaptation_samples INTEGER NOT NULL,
  eval_samples INTEGER NOT NULL,
  wall_seconds REAL NOT NULL,
  macs_dense INTEGER NOT NULL,
  macs_effective INTEGER NOT NULL,
  peak_memory_bytes INTEGER NOT NULL,
  received_at REAL NOT NULL
);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  at REAL NOT NULL,
  kind TEXT NOT NULL,
  agent_id TEXT NOT NULL DEFAULT '',
  task_id INTEGER NOT NULL DEFAULT 0,
  detail TEXT NOT NULL DEFAULT ''
);
)sql",
      // 2: indices for the coordinator's hot queries and for status/export.
      R"sql(
CREATE INDEX tasks_by_status ON tasks(status, campaign_id);
CREATE INDEX telemetry_by_campaign ON telemetry(campaign_id, method);
CREATE INDEX events_by_time ON events(at);
)sql",
      // 3: enrolled CURVE keys (security) and the privacy noise of reported numbers.
      // The enrollment list lives here, not in a file: the coordinator already keeps its
      // state in this one database, `enroll`/`revoke` from another process take effect
      // while it serves (WAL), and each change is one transaction with no reload race.
      R"sql(
CREATE TABLE agent_keys (
  public_key TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  enrolled_at REAL NOT NULL,
  revoked_at REAL
);
ALTER TABLE telemetry ADD COLUMN dp_mechanism TEXT NOT NULL DEFAULT '';
ALTER TABLE telemetry ADD COLUMN dp_epsilon REAL;
ALTER TABLE telemetry ADD COLUMN dp_delta REAL;
)sql",
      // 4: the multiply-accumulates each method spent on the device (the compute comparison).
      R"sql(
ALTER TABLE telemetry ADD COLUMN compute_macs INTEGER NOT NULL DEFAULT 0;
)sql",
      // 5 (security, docs/SECURITY.md): idempotency keys are unique per sending agent, not
      // globally (no peer can pre-empt another's key), and a task holds one row per method.
      // Rows an older coordinator stored twice for one (task, method) are dropped, the first
      // kept, each dropped row logged as a 'migration-duplicate' event. Agent ids are bound to
      // the enrolled key that first claimed them (agent_identities).
      R"sql(
INSERT INTO events (at, kind, agent_id, task_id, detail)
  SELECT received_at, 'migration-duplicate', agent_id, task_id,
         'dropped telemetry row ' || id || ' (method ' || method || ', key ' || idempotency_key ||
         '): task ' || task_id || ' already had a row for that method'
  FROM telemetry t
  WHERE id > (SELECT MIN(id) FROM telemetry u WHERE u.task_id = t.task_id AND u.method = t.method)
  ORDER BY id;
DELETE FROM telemetry WHERE id > (SELECT MIN(id) FROM telemetry u
  WHERE u.task_id = telemetry.task_id AND u.method = telemetry.method);
CREATE TABLE telemetry_scoped (
  id INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  agent_id TEXT NOT NULL,
  method TEXT NOT NULL,
  individual TEXT NOT NULL,
  target_sparsity REAL NOT NULL,
  sparsity REAL NOT NULL,
  overall_sparsity REAL NOT NULL,
  layer_sparsity_json TEXT NOT NULL,
  accuracy_before REAL,
  accuracy_after REAL,
  curve_json TEXT NOT NULL,
  adaptation_samples INTEGER NOT NULL,
  eval_samples INTEGER NOT NULL,
  wall_seconds REAL NOT NULL,
  macs_dense INTEGER NOT NULL,
  macs_effective INTEGER NOT NULL,
  peak_memory_bytes INTEGER NOT NULL,
  received_at REAL NOT NULL,
  dp_mechanism TEXT NOT NULL DEFAULT '',
  dp_epsilon REAL,
  dp_delta REAL,
  compute_macs INTEGER NOT NULL DEFAULT 0,
  UNIQUE (agent_id, idempotency_key),
  UNIQUE (task_id, method)
);
INSERT INTO telemetry_scoped (id, idempotency_key, task_id, campaign_id, agent_id, method,
  individual, target_sparsity, sparsity, overall_sparsity, layer_sparsity_json, accuracy_before,
  accuracy_after, curve_json, adaptation_samples, eval_samples, wall_seconds, macs_dense,
  macs_effective, peak_memory_bytes, received_at, dp_mechanism, dp_epsilon, dp_delta, compute_macs)
SELECT id, idempotency_key, task_id, campaign_id, agent_id, method,
  individual, target_sparsity, sparsity, overall_sparsity, layer_sparsity_json, accuracy_before,
  accuracy_after, curve_json, adaptation_samples, eval_samples, wall_seconds, macs_dense,
  macs_effective, peak_memory_bytes, received_at, dp_mechanism, dp_epsilon, dp_delta, compute_macs
FROM telemetry;
DROP TABLE telemetry;
ALTER TABLE telemetry_scoped RENAME TO telemetry;
CREATE INDEX telemetry_by_campaign ON telemetry(campaign_id, method);
CREATE TABLE agent_identities (
  agent_id TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  bound_at REAL NOT NULL
);
)sql",
      // 6: the compact model's size (pruned units removed): parameters and artifact bytes;
      // 0 for reports from before it was measured.
      R"sql(
ALTER TABLE telemetry ADD COLUMN compact_parameters INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry ADD COLUMN compact_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
      // 7: devices without labels (evaluated = 0) and their label-free figures.
      R"sql(
ALTER TABLE telemetry ADD COLUMN evaluated INTEGER NOT NULL DEFAULT 1;
ALTER TABLE telemetry ADD COLUMN mean_confidence_before REAL;
ALTER TABLE telemetry ADD COLUMN mean_confidence_after REAL;
ALTER TABLE telemetry ADD COLUMN agreement REAL;
ALTER TABLE telemetry ADD COLUMN model_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry ADD COLUMN skipped_files INTEGER NOT NULL DEFAULT 0;
)sql",
      // 8 (issue 17, item 5): no unique index on (agent_id, idempotency_key). A report is
      // already one row per (task, method), and only the task's holder may report for it,
      // so the key index caught no duplicate the other did not; it was half of each insert's
      // cost (a long text key at a scattered place in a second B-tree: 200,000 rows into a
      // table of this shape took 2.4 s with it, 1.1-1.3 s without, in an sqlite3 probe on
      // tmpfs). Keys still name each report in its Ack and in the logs.
      R"sql(
CREATE TABLE telemetry_v8 (
  id INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  agent_id TEXT NOT NULL,
  method TEXT NOT NULL,
  individual TEXT NOT NULL,
  target_sparsity REAL NOT NULL,
  sparsity REAL NOT NULL,
  overall_sparsity REAL NOT NULL,
  layer_sparsity_json TEXT NOT NULL,
  accuracy_before REAL,
  accuracy_after REAL,
  curve_json TEXT NOT NULL,
  adaptation_samples INTEGER NOT NULL,
  eval_samples INTEGER NOT NULL,
  wall_seconds REAL NOT NULL,
  macs_dense INTEGER NOT NULL,
  macs_effective INTEGER NOT NULL,
  peak_memory_bytes INTEGER NOT NULL,
  received_at REAL NOT NULL,
  dp_mechanism TEXT NOT NULL DEFAULT '',
  dp_epsilon REAL,
  dp_delta REAL,
  compute_macs INTEGER NOT NULL DEFAULT 0,
  compact_parameters INTEGER NOT NULL DEFAULT 0,
  compact_bytes INTEGER NOT NULL DEFAULT 0,
  evaluated INTEGER NOT NULL DEFAULT 1,
  mean_confidence_before REAL,
  mean_confidence_after REAL,
  agreement REAL,
  model_bytes INTEGER NOT NULL DEFAULT 0,
  skipped_files INTEGER NOT NULL DEFAULT 0,
  UNIQUE (task_id, method)
);
INSERT INTO telemetry_v8 (id, idempotency_key, task_id, campaign_id, agent_id, method,
  individual, target_sparsity, sparsity, overall_sparsity, layer_sparsity_json, accuracy_before,
  accuracy_after, curve_json, adaptation_samples, eval_samples, wall_seconds, macs_dense,
  macs_effective, peak_memory_bytes, received_at, dp_mechanism, dp_epsilon, dp_delta, compute_macs,
  compact_parameters, compact_bytes, evaluated, mean_confidence_before, mean_confidence_after,
  agreement, model_bytes, skipped_files)
SELECT id, idempotency_key, task_id, campaign_id, agent_id, method,
  individual, target_sparsity, sparsity, overall_sparsity, layer_sparsity_json, accuracy_before,
  accuracy_after, curve_json, adaptation_samples, eval_samples, wall_seconds, macs_dense,
  macs_effective, peak_memory_bytes, received_at, dp_mechanism, dp_epsilon, dp_delta, compute_macs,
  compact_parameters, compact_bytes, evaluated, mean_confidence_before, mean_confidence_after,
  agreement, model_bytes, skipped_files
FROM telemetry;
DROP TABLE telemetry;
ALTER TABLE telemetry_v8 RENAME TO telemetry;
CREATE INDEX telemetry_by_campaign ON telemetry(campaign_id, method);
)sql",
      // 9: the database's identity, random, made once. The coordinator's Welcome carries it:
      // task ids restart in another database, so a device drops what it made for another
      // one (a result for its "task 1" would close this database's task 1).
      R"sql(
CREATE TABLE database_identity (id TEXT NOT NULL);
INSERT INTO database_identity VALUES (lower(hex(randomblob(16))));
)sql",
  };
  return all;
}

Status migrate(sql::Database& db, bool quietly) {
  FP_ASSIGN_OR_RETURN(int64_t version, db.query_int("PRAGMA user_version"));
  const int latest = latest_schema_version();
  if (version > latest) {
    return Status::invalid_argument(db.path() + ": database schema version " +
                                    std::to_string(version) + " is newer than this program's " +
                                    std::to_string(latest));
  }
  // One way: an older fineprune refuses the database afterwards, so a program that only
  // reads (status, report) says so too.
  if (!quietly && version > 0 && version < latest)
    spdlog::info("database {}: schema {} migrated to {} (older fineprune programs will refuse it)",
                 db.path(), version, latest);
  for (int v = static_cast<int>(version); v < latest; ++v) {
    sql::Transaction tx(db);
    FP_RETURN_IF_ERROR(tx.begin_status());
    FP_RETURN_IF_ERROR(db.exec(migrations()[v]));
    FP_RETURN_IF_ERROR(db.exec("PRAGMA user_version = " + std::to_string(v + 1)));
    FP_RETURN_IF_ERROR(tx.commit());
  }
  return Status::ok_status();
}

}  // namespace fp::store
