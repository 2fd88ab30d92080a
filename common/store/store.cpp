// Store: opening, statement cache, agents, models and campaigns.
#include "store/store.h"

#include <sqlite3.h>

#include <filesystem>

#include "store/migrations.h"
#include "util/file_io.h"

namespace fp::store {
namespace {

// A damaged or foreign file is refused before anything is written to it, so what it
// still holds stays recoverable. quick_check reads every page once (milliseconds
// for a campaign's database).
Status check_integrity(sql::Database& db, const std::string& path) {
  auto refuse = [&](const std::string& why) {
    return Status::corruption("database " + path + " is damaged or not an SQLite database (" + why +
                              "); it was left untouched");
  };
  // Only SQLite's own verdict that the file is damaged or none is called so: a full disk (no
  // room for the -shm file beside it), a lock or a permission was "damaged" too, and an
  // operator told so may restore over a sound file.
  auto failed = [&](const Status& error) {
    const int code = sqlite3_extended_errcode(db.handle()) & 0xff;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return refuse(error.message());
    return Status::io_error("database " + path + " cannot be read now (" + error.message() +
                            (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN
                                 ? "; a full disk, or no room for its -shm file beside it?"
                                 : "") +
                            "); it was left untouched");
  };
  auto check = db.prepare("PRAGMA quick_check(1)");
  if (!check.ok()) return failed(check.status());
  auto row = check->step();
  if (!row.ok()) return failed(row.status());
  if (!*row) return refuse("no answer to quick_check");
  const std::string verdict = check->column_text(0);
  if (verdict != "ok") return refuse(verdict);
  return Status::ok_status();
}

// Another program's database (tables, but no fineprune schema version: migration 0 creates
// the tables and sets the version in one transaction) is refused before anything is written
// to it, WAL mode included, instead of fineprune's tables being added beside its own.
Status check_ours(sql::Database& db, const std::string& path) {
  FP_ASSIGN_OR_RETURN(int64_t version, db.query_int("PRAGMA user_version"));
  if (version != 0) return Status::ok_status();  // fineprune's; a newer one: migrate() refuses
  FP_ASSIGN_OR_RETURN(auto tables, db.prepare("SELECT name FROM sqlite_master WHERE name NOT "
                                              "LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"));
  std::string names;
  int64_t count = 0;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, tables.step());
    if (!row) break;
    if (++count <= 3) names += (names.empty() ? "" : ", ") + tables.column_text(0);
  }
  if (count == 0) return Status::ok_status();  // new or empty: fineprune's from now on
  if (count > 3) names += ", ...";
  return Status::invalid_argument("database " + path + " is not fineprune's (it holds " + names +
                                  " and no fineprune schema version); it was left untouched");
}

}  // namespace

namespace {

// A connection's checks and settings before any statement: it waits for a writer, holds an
// intact fineprune database, and checks foreign keys.
Status prepare_connection(sql::Database& db, const std::string& path) {
  FP_RETURN_IF_ERROR(db.exec("PRAGMA busy_timeout = 5000"));
  FP_RETURN_IF_ERROR(check_integrity(db, path));
  FP_RETURN_IF_ERROR(check_ours(db, path));
  return db.exec("PRAGMA foreign_keys = ON");
}

// Writes what `db` (at `path`) has committed now into the new file `copy`.
Status vacuum_into(sql::Database& db, const std::string& path, const std::string& copy) {
  FP_ASSIGN_OR_RETURN(auto into, db.prepare("VACUUM INTO ?"));
  into.bind(1, copy);
  if (Status copied = into.run(); !copied.ok())
    return Status::io_error("copying database " + path + " to " + copy + ": " + copied.message());
  return Status::ok_status();
}

// Opens or creates `path` for writing and migrates it (quietly: a check's copy).
Result<std::unique_ptr<sql::Database>> open_writable(const std::string& path, bool quietly) {
  FP_ASSIGN_OR_RETURN(auto db, sql::Database::open(path));
  FP_RETURN_IF_ERROR(prepare_connection(*db, path));
  // WAL lets status/export read while serve writes; NORMAL sync is durable across
  // process crashes (the WAL is fsynced at checkpoints), which is what telemetry needs.
  if (path != ":memory:") FP_RETURN_IF_ERROR(db->exec("PRAGMA journal_mode = WAL"));
  FP_RETURN_IF_ERROR(db->exec("PRAGMA synchronous = NORMAL"));
  // SQLite's default 2 MiB page cache spills dirty pages in the middle of a telemetry
  // burst's transaction; 32 MiB holds a burst and the tables' hot pages.
  FP_RETURN_IF_ERROR(db->exec("PRAGMA cache_size = -32768"));
  FP_RETURN_IF_ERROR(migrate(*db, quietly));
  return db;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  FP_ASSIGN_OR_RETURN(auto db, open_writable(path, /*quietly=*/false));
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

Result<std::unique_ptr<Store>> Store::open_reader(const std::string& path) {
  FP_ASSIGN_OR_RETURN(auto db, sql::Database::open(path, sql::Database::Access::kReadOnly));
  FP_RETURN_IF_ERROR(db->exec("PRAGMA busy_timeout = 5000"));
  FP_ASSIGN_OR_RETURN(int64_t version, db->query_int("PRAGMA user_version"));
  if (version != latest_schema_version())
    return Status::invalid_argument("database " + path + " has schema " + std::to_string(version) +
                                    ", not " + std::to_string(latest_schema_version()) +
                                    ": open it with Store::open first");
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

Status Store::copy(const std::string& path, const std::string& copy) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Status::not_found("database " + path + " does not exist");
  if (std::filesystem::exists(std::filesystem::symlink_status(copy, ec)))
    return Status::invalid_argument("copying database " + path + ": " + copy + " exists");
  FP_ASSIGN_OR_RETURN(auto db, sql::Database::open(path, sql::Database::Access::kReadOnly));
  FP_RETURN_IF_ERROR(prepare_connection(*db, path));
  FP_RETURN_IF_ERROR(vacuum_into(*db, path, copy));
  // VACUUM INTO leaves its output unsynced: a backup must survive a crash right after it.
  return sync_to_disk(copy, "database copy");
}

Result<std::unique_ptr<Store>> Store::open_unchanged(const std::string& path,
                                                     const std::string& scratch_folder,
                                                     int* migrated_from) {
  if (migrated_from) *migrated_from = 0;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Status::not_found("database " + path + " does not exist");
  FP_ASSIGN_OR_RETURN(auto db, sql::Database::open(path, sql::Database::Access::kReadOnly));
  FP_RETURN_IF_ERROR(prepare_connection(*db, path));
  FP_ASSIGN_OR_RETURN(int64_t version, db->query_int("PRAGMA user_version"));
  // A current schema needs no migration, a newer one is refused: neither writes.
  if (version >= latest_schema_version()) {
    FP_RETURN_IF_ERROR(migrate(*db));
    return std::unique_ptr<Store>(new Store(std::move(db)));
  }
  const std::string copy =
      (std::filesystem::path(scratch_folder) / std::filesystem::path(path).filename()).string();
  std::filesystem::remove(copy, ec);
  FP_RETURN_IF_ERROR(vacuum_into(*db, path, copy));
  if (migrated_from) *migrated_from = static_cast<int>(version);
  FP_ASSIGN_OR_RETURN(auto migrated, open_writable(copy, /*quietly=*/true));
  auto store = std::unique_ptr<Store>(new Store(std::move(migrated)));
  store->path_ = path;
  return store;
}

int Store::schema_version() {
  auto v = db_->query_int("PRAGMA user_version");
  return v.ok() ? static_cast<int>(*v) : -1;
}

Result<std::string> Store::identity() {
  FP_ASSIGN_OR_RETURN(auto* s, statement("SELECT id FROM database_identity LIMIT 1"));
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return Status::corruption(db_->path() + ": no database identity");
  std::string id = s->column_text(0);
  s->reset();
  return id;
}

Result<sql::Statement*> Store::statement(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    FP_ASSIGN_OR_RETURN(auto stmt, db_->prepare(sql));
    it = statements_.emplace(sql, std::move(stmt)).first;
  }
  it->second.reset();
  return &it->second;
}

// ---- agents ----

Status Store::upsert_agent(const AgentRecord& a) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
INSERT INTO agents (agent_id, first_seen, last_seen, threads, memory_mb, datasets_json, status,
                    session_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (agent_id) DO UPDATE SET
  last_seen = excluded.last_seen, threads = excluded.threads, memory_mb = excluded.memory_mb,
  datasets_json = excluded.datasets_json, status = excluded.status,
  session_id = excluded.session_id)sql"));
  s->bind(1, a.agent_id).bind(2, a.first_seen).bind(3, a.last_seen).bind(4, a.threads);
  s->bind(5, a.memory_mb).bind(6, a.datasets_json).bind(7, a.status).bind(8, a.session_id);
  return s->run();
}

Status Store::set_agent_status(const std::string& agent_id, const std::string& status, double at) {
  FP_ASSIGN_OR_RETURN(
      auto* s, statement("UPDATE agents SET status = ?2, last_seen = ?3 WHERE agent_id = ?1"));
  s->bind(1, agent_id).bind(2, status).bind(3, at);
  return s->run();
}

Result<std::vector<AgentRecord>> Store::agents() {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
SELECT agent_id, first_seen, last_seen, threads, memory_mb, datasets_json, status, session_id
FROM agents ORDER BY agent_id)sql"));
  std::vector<AgentRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back({s->column_text(0), s->column_double(1), s->column_double(2), s->column_int(3),
                   s->column_int(4), s->column_text(5), s->column_text(6), s->column_text(7)});
  }
  return out;
}

// ---- models ----

Status Store::put_model(const ModelRecord& m) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
INSERT INTO models (sha256, size_bytes, spec_json, meta_json, path, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (sha256) DO NOTHING)sql"));
  s->bind(1, m.sha256).bind(2, m.size_bytes).bind(3, m.spec_json).bind(4, m.meta_json);
  s->bind(5, m.path).bind(6, m.created_at);
  return s->run();
}

namespace {
ModelRecord read_model(const sql::Statement& s) {
  return {s.column_text(0), s.column_int(1),  s.column_text(2),
          s.column_text(3), s.column_text(4), s.column_double(5)};
}
}  // namespace

Result<std::optional<ModelRecord>> Store::find_model(const std::string& sha256) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
SELECT sha256, size_bytes, spec_json, meta_json, path, created_at FROM models
WHERE sha256 = ?1)sql"));
  s->bind(1, sha256);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return std::optional<ModelRecord>();
  std::optional<ModelRecord> value = read_model(*s);
  s->reset();  // release the read snapshot now
  return value;
}

Result<std::vector<ModelRecord>> Store::models() {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
SELECT sha256, size_bytes, spec_json, meta_json, path, created_at FROM models
ORDER BY rowid)sql"));
  std::vector<ModelRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back(read_model(*s));
  }
  return out;
}

// ---- campaigns ----

namespace {
constexpr const char* kCampaignColumns =
    "id, name, model_sha256, dataset, prune_config_json, baselines_json, sweep_targets_json, "
    "open_enrollment, status, created_at";

CampaignRecord read_campaign(const sql::Statement& s) {
  CampaignRecord c;
  c.id = s.column_int(0);
  c.name = s.column_text(1);
  c.model_sha256 = s.column_text(2);
  c.dataset = s.column_text(3);
  c.prune_config_json = s.column_text(4);
  c.baselines_json = s.column_text(5);
  c.sweep_targets_json = s.column_text(6);
  c.open_enrollment = s.column_int(7) != 0;
  c.status = s.column_text(8);
  c.created_at = s.column_double(9);
  return c;
}
}  // namespace

Result<int64_t> Store::create_campaign(const CampaignRecord& c) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
INSERT INTO campaigns (name, model_sha256, dataset, prune_config_json, baselines_json,
                       sweep_targets_json, open_enrollment, status, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql"));
  s->bind(1, c.name).bind(2, c.model_sha256).bind(3, c.dataset).bind(4, c.prune_config_json);
  s->bind(5, c.baselines_json).bind(6, c.sweep_targets_json);
  s->bind(7, int64_t{c.open_enrollment ? 1 : 0}).bind(8, c.status).bind(9, c.created_at);
  Status st = s->run();
  // A name taken is the caller's mistake; a full disk is not.
  if (!st.ok() && (sqlite3_extended_errcode(db_->handle()) & 0xff) == SQLITE_CONSTRAINT)
    return Status::invalid_argument("campaign '" + c.name + "': " + st.message());
  if (!st.ok()) return st.with_context("campaign '" + c.name + "': ");
  return db_->last_insert_rowid();
}

Result<std::optional<CampaignRecord>> Store::find_campaign(const std::string& name) {
  static const std::string sql =
      std::string("SELECT ") + kCampaignColumns + " FROM campaigns WHERE name = ?1";
  FP_ASSIGN_OR_RETURN(auto* s, statement(sql.c_str()));
  s->bind(1, name);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return std::optional<CampaignRecord>();
  std::optional<CampaignRecord> value = read_campaign(*s);
  s->reset();  // release the read snapshot now
  return value;
}

Result<std::optional<CampaignRecord>> Store::campaign(int64_t id) {
  static const std::string sql =
      std::string("SELECT ") + kCampaignColumns + " FROM campaigns WHERE id = ?1";
  FP_ASSIGN_OR_RETURN(auto* s, statement(sql.c_str()));
  s->bind(1, id);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return std::optional<CampaignRecord>();
  std::optional<CampaignRecord> value = read_campaign(*s);
  s->reset();  // release the read snapshot now
  return value;
}

Result<std::vector<CampaignRecord>> Store::campaigns() {
  static const std::string sql =
      std::string("SELECT ") + kCampaignColumns + " FROM campaigns ORDER BY id";
  FP_ASSIGN_OR_RETURN(auto* s, statement(sql.c_str()));
  std::vector<CampaignRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back(read_campaign(*s));
  }
  return out;
}

Status Store::set_campaign_status(int64_t id, const std::string& status) {
  FP_ASSIGN_OR_RETURN(auto* s, statement("UPDATE campaigns SET status = ?2 WHERE id = ?1"));
  s->bind(1, id).bind(2, status);
  return s->run();
}

Result<bool> Store::mark_campaign_done(int64_t id) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
UPDATE campaigns SET status = 'done' WHERE id = ?1 AND status = 'running' AND NOT EXISTS (
  SELECT 1 FROM tasks WHERE campaign_id = ?1 AND status IN ('pending', 'assigned')))sql"));
  s->bind(1, id);
  FP_RETURN_IF_ERROR(s->run());
  return db_->changes() > 0;
}

}  // namespace fp::store
