#include "store/run_store.h"

namespace fp::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sim_runs (
  id INTEGER PRIMARY KEY,
  scenario TEXT NOT NULL,
  scenario_toml TEXT NOT NULL,
  seed INTEGER NOT NULL,
  started_at REAL NOT NULL,
  finished_at REAL NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'running',
  stats_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sim_campaigns (
  campaign_id INTEGER PRIMARY KEY REFERENCES campaigns(id),
  run_id INTEGER NOT NULL REFERENCES sim_runs(id),
  variant TEXT NOT NULL DEFAULT '',
  left_out TEXT NOT NULL DEFAULT ''
);
)sql";

constexpr const char* kRunColumns =
    "SELECT id, scenario, scenario_toml, seed, started_at, finished_at, status, stats_json "
    "FROM sim_runs";

RunRecord read_run(const sql::Statement& st) {
  RunRecord r;
  r.id = st.column_int(0);
  r.scenario = st.column_text(1);
  r.scenario_toml = st.column_text(2);
  r.seed = static_cast<uint64_t>(st.column_int(3));
  r.started_at = st.column_double(4);
  r.finished_at = st.column_double(5);
  r.status = st.column_text(6);
  r.stats_json = st.column_text(7);
  return r;
}

}  // namespace

Result<RunStore> RunStore::open(Store& store) {
  FP_RETURN_IF_ERROR(store.db().exec(kSchema));
  return RunStore(store);
}

Result<RunStore> RunStore::open_to_read(Store& store) {
  FP_ASSIGN_OR_RETURN(auto st, store.db().prepare("SELECT 1 FROM sqlite_master WHERE type = "
                                                  "'table' AND name = 'sim_runs'"));
  FP_ASSIGN_OR_RETURN(bool there, st.step());
  if (!there) {
    return Status::not_found("no simulation run in " + store.path() +
                             " (a database of fp-coordinator alone: see fp-coordinator "
                             "status/export)");
  }
  return RunStore(store);
}

Result<int64_t> RunStore::add_run(const RunRecord& run) {
  FP_ASSIGN_OR_RETURN(
      auto st, store_->db().prepare("INSERT INTO sim_runs (scenario, scenario_toml, seed, "
                                    "started_at, status, stats_json) VALUES (?, ?, ?, ?, ?, ?)"));
  st.bind(1, run.scenario)
      .bind(2, run.scenario_toml)
      .bind(3, static_cast<int64_t>(run.seed))
      .bind(4, run.started_at)
      .bind(5, run.status)
      .bind(6, run.stats_json);
  FP_RETURN_IF_ERROR(st.run());
  return store_->db().last_insert_rowid();
}

Status RunStore::finish_run(int64_t id, const std::string& status, double at,
                            const std::string& stats_json) {
  FP_ASSIGN_OR_RETURN(auto st,
                      store_->db().prepare("UPDATE sim_runs SET status = ?, "
                                           "finished_at = ?, stats_json = ? WHERE id = ?"));
  st.bind(1, status).bind(2, at).bind(3, stats_json).bind(4, id);
  FP_RETURN_IF_ERROR(st.run());
  if (store_->db().changes() != 1)
    return Status::not_found("no simulation run " + std::to_string(id));
  return Status::ok_status();
}

Status RunStore::reopen_run(int64_t id, bool done_too) {
  FP_ASSIGN_OR_RETURN(auto st, store_->db().prepare("UPDATE sim_runs SET status = 'running', "
                                                    "finished_at = 0 WHERE id = ?1 AND "
                                                    "(?2 OR status != 'done')"));
  st.bind(1, id).bind(2, int64_t{done_too ? 1 : 0});
  FP_RETURN_IF_ERROR(st.run());
  if (store_->db().changes() != 1) {
    return Status::invalid_argument("simulation run " + std::to_string(id) +
                                    " is done or absent: nothing to resume");
  }
  return Status::ok_status();
}

Status RunStore::set_scenario_text(int64_t id, const std::string& scenario_toml) {
  FP_ASSIGN_OR_RETURN(auto st,
                      store_->db().prepare("UPDATE sim_runs SET scenario_toml = ? WHERE id = ?"));
  st.bind(1, scenario_toml).bind(2, id);
  FP_RETURN_IF_ERROR(st.run());
  if (store_->db().changes() != 1)
    return Status::not_found("no simulation run " + std::to_string(id));
  return Status::ok_status();
}

Result<std::vector<RunRecord>> RunStore::runs() {
  FP_ASSIGN_OR_RETURN(auto st, store_->db().prepare(std::string(kRunColumns) + " ORDER BY id"));
  std::vector<RunRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(read_run(st));
  }
  return out;
}

Result<RunRecord> RunStore::run(int64_t id) {
  std::string q =
      std::string(kRunColumns) + (id > 0 ? " WHERE id = ?" : " ORDER BY id DESC LIMIT 1");
  FP_ASSIGN_OR_RETURN(auto st, store_->db().prepare(q));
  if (id > 0) st.bind(1, id);
  FP_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) {
    return Status::not_found(
        id > 0 ? "no simulation run " + std::to_string(id) + " in " + store_->path()
               : "no simulation run in " + store_->path() +
                     " (a database of fp-coordinator alone: see fp-coordinator status/export)");
  }
  return read_run(st);
}

Status RunStore::add_campaign(const RunCampaign& c) {
  FP_ASSIGN_OR_RETURN(auto st,
                      store_->db().prepare("INSERT INTO sim_campaigns (campaign_id, "
                                           "run_id, variant, left_out) VALUES (?, ?, ?, ?)"));
  st.bind(1, c.campaign_id).bind(2, c.run_id).bind(3, c.variant).bind(4, c.left_out);
  return st.run();
}

Result<std::vector<RunCampaign>> RunStore::campaigns(int64_t run_id) {
  FP_ASSIGN_OR_RETURN(auto st, store_->db().prepare("SELECT campaign_id, run_id, variant, left_out "
                                                    "FROM sim_campaigns WHERE run_id = ? "
                                                    "ORDER BY campaign_id"));
  st.bind(1, run_id);
  std::vector<RunCampaign> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back({st.column_int(0), st.column_int(1), st.column_text(2), st.column_text(3)});
  }
  return out;
}

}  // namespace fp::store
