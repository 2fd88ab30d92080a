#include "store/migrations.h"

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
      // 5: devices without labels (evaluated = 0) and their label-free figures.
      R"sql(
ALTER TABLE telemetry ADD COLUMN evaluated INTEGER NOT NULL DEFAULT 1;
ALTER TABLE telemetry ADD COLUMN mean_confidence_before REAL;
ALTER TABLE telemetry ADD COLUMN mean_confidence_after REAL;
ALTER TABLE telemetry ADD COLUMN agreement REAL;
ALTER TABLE telemetry ADD COLUMN model_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telemetry ADD COLUMN skipped_files INTEGER NOT NULL DEFAULT 0;
)sql",
  };
  return all;
}

Status migrate(sql::Database& db) {
  FP_ASSIGN_OR_RETURN(int64_t version, db.query_int("PRAGMA user_version"));
  const int latest = latest_schema_version();
  if (version > latest) {
    return Status::invalid_argument(db.path() + ": database schema version " +
                                    std::to_string(version) + " is newer than this program's " +
                                    std::to_string(latest));
  }
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
