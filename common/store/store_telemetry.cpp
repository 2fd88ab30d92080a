// Store: telemetry ingest (batched, idempotent) and the event log.
//
// A row is a duplicate when its sender already stored its idempotency key, or when its
// task already has a row for its method (both unique in the schema, migration 5).

#include "store/store.h"

namespace fp::store {

Result<std::vector<TelemetryInsert>> Store::insert_telemetry(
    const std::vector<TelemetryRecord>& records) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
INSERT INTO telemetry (idempotency_key, task_id, campaign_id, agent_id, method, individual,
  target_sparsity, sparsity, overall_sparsity, layer_sparsity_json, accuracy_before,
  accuracy_after, curve_json, adaptation_samples, eval_samples, wall_seconds, macs_dense,
  macs_effective, peak_memory_bytes, received_at, dp_mechanism, dp_epsilon, dp_delta,
  compute_macs, compact_parameters, compact_bytes, evaluated, mean_confidence_before,
  mean_confidence_after, agreement, model_bytes, skipped_files)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
        ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)
ON CONFLICT DO NOTHING)sql"));
  std::vector<TelemetryInsert> out(records.size());
  sql::Transaction tx(*db_);
  FP_RETURN_IF_ERROR(tx.begin_status());
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    s->reset();
    s->bind(1, r.idempotency_key).bind(2, r.task_id).bind(3, r.campaign_id).bind(4, r.agent_id);
    s->bind(5, r.method).bind(6, r.individual).bind(7, r.target_sparsity).bind(8, r.sparsity);
    s->bind(9, r.overall_sparsity).bind(10, r.layer_sparsity_json).bind(11, r.accuracy_before);
    s->bind(12, r.accuracy_after).bind(13, r.curve_json).bind(14, r.adaptation_samples);
    s->bind(15, r.eval_samples).bind(16, r.wall_seconds).bind(17, r.macs_dense);
    s->bind(18, r.macs_effective).bind(19, r.peak_memory_bytes).bind(20, r.received_at);
    s->bind(21, r.dp_mechanism).bind(22, r.dp_epsilon).bind(23, r.dp_delta);
    s->bind(24, r.compute_macs).bind(25, r.compact_parameters).bind(26, r.compact_bytes);
    s->bind(27, static_cast<int64_t>(r.evaluated ? 1 : 0));
    s->bind(28, r.mean_confidence_before).bind(29, r.mean_confidence_after);
    s->bind(30, r.agreement).bind(31, r.model_bytes).bind(32, r.skipped_files);
    // A constraint failure aborts only this statement, not the transaction.
    Status st = s->run();
    if (!st.ok()) {
      out[i] = {InsertOutcome::kFailed, st.message()};
    } else {
      out[i] = {db_->changes() == 1 ? InsertOutcome::kInserted : InsertOutcome::kDuplicate, ""};
    }
  }
  FP_RETURN_IF_ERROR(tx.commit());
  return out;
}

Result<std::vector<TelemetryRecord>> Store::telemetry(int64_t campaign_id, int64_t after_id) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
SELECT id, idempotency_key, task_id, campaign_id, agent_id, method, individual, target_sparsity,
  sparsity, overall_sparsity, layer_sparsity_json, accuracy_before, accuracy_after, curve_json,
  adaptation_samples, eval_samples, wall_seconds, macs_dense, macs_effective, peak_memory_bytes,
  received_at, dp_mechanism, dp_epsilon, dp_delta, compute_macs, compact_parameters,
  compact_bytes, evaluated, mean_confidence_before, mean_confidence_after, agreement,
  model_bytes, skipped_files
FROM telemetry WHERE (?1 = 0 OR campaign_id = ?1) AND id > ?2 ORDER BY id)sql"));
  s->bind(1, campaign_id).bind(2, after_id);
  std::vector<TelemetryRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    TelemetryRecord r;
    r.id = s->column_int(0);
    r.idempotency_key = s->column_text(1);
    r.task_id = s->column_int(2);
    r.campaign_id = s->column_int(3);
    r.agent_id = s->column_text(4);
    r.method = s->column_text(5);
    r.individual = s->column_text(6);
    r.target_sparsity = s->column_double(7);
    r.sparsity = s->column_double(8);
    r.overall_sparsity = s->column_double(9);
    r.layer_sparsity_json = s->column_text(10);
    r.accuracy_before = s->column_optional_double(11);
    r.accuracy_after = s->column_optional_double(12);
    r.curve_json = s->column_text(13);
    r.adaptation_samples = s->column_int(14);
    r.eval_samples = s->column_int(15);
    r.wall_seconds = s->column_double(16);
    r.macs_dense = s->column_int(17);
    r.macs_effective = s->column_int(18);
    r.peak_memory_bytes = s->column_int(19);
    r.received_at = s->column_double(20);
    r.dp_mechanism = s->column_text(21);
    r.dp_epsilon = s->column_optional_double(22);
    r.dp_delta = s->column_optional_double(23);
    r.compute_macs = s->column_int(24);
    r.compact_parameters = s->column_int(25);
    r.compact_bytes = s->column_int(26);
    r.evaluated = s->column_int(27) != 0;
    r.mean_confidence_before = s->column_optional_double(28);
    r.mean_confidence_after = s->column_optional_double(29);
    r.agreement = s->column_optional_double(30);
    r.model_bytes = s->column_int(31);
    r.skipped_files = s->column_int(32);
    out.push_back(std::move(r));
  }
  return out;
}

Result<int64_t> Store::telemetry_count(int64_t campaign_id, int64_t up_to_id) {
  FP_ASSIGN_OR_RETURN(auto* s, statement("SELECT COUNT(*) FROM telemetry "
                                         "WHERE (?1 = 0 OR campaign_id = ?1) AND id <= ?2"));
  s->bind(1, campaign_id).bind(2, up_to_id);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return Status::internal("SELECT COUNT(*) returned no row");
  const int64_t count = s->column_int(0);
  s->reset();  // ends the read: no snapshot held open between calls
  return count;
}

Result<int64_t> Store::task_report_count(int64_t task_id) {
  FP_ASSIGN_OR_RETURN(auto* s, statement("SELECT COUNT(*) FROM telemetry WHERE task_id = ?1"));
  s->bind(1, task_id);
  FP_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return Status::internal("SELECT COUNT(*) returned no row");
  const int64_t count = s->column_int(0);
  s->reset();
  return count;
}

Status Store::add_events(const std::vector<EventRecord>& events) {
  if (events.empty()) return Status::ok_status();
  FP_ASSIGN_OR_RETURN(
      auto* s,
      statement(
          "INSERT INTO events (at, kind, agent_id, task_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)"));
  sql::Transaction tx(*db_);
  FP_RETURN_IF_ERROR(tx.begin_status());
  for (const auto& e : events) {
    s->reset();
    s->bind(1, e.at).bind(2, e.kind).bind(3, e.agent_id).bind(4, e.task_id).bind(5, e.detail);
    FP_RETURN_IF_ERROR(s->run());
  }
  if (events_kept_ > 0) {
    // Ids only grow (the newest row is never the one removed), so the oldest are a range of
    // the primary key.
    FP_ASSIGN_OR_RETURN(auto* trim, statement(R"sql(
DELETE FROM events WHERE id <= MIN((SELECT MAX(id) FROM events) - ?1,
                                   (SELECT MIN(id) FROM events) + ?2 - 1))sql"));
    trim->bind(1, events_kept_).bind(2, kEventsTrimmedAtOnce);
    FP_RETURN_IF_ERROR(trim->run());
  }
  return tx.commit();
}

Result<std::vector<EventRecord>> Store::events(int64_t limit) {
  FP_ASSIGN_OR_RETURN(auto* s, statement(R"sql(
SELECT id, at, kind, agent_id, task_id, detail FROM
  (SELECT * FROM events ORDER BY id DESC LIMIT ?1) ORDER BY id)sql"));
  s->bind(1, limit);
  std::vector<EventRecord> out;
  while (true) {
    FP_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    out.push_back({s->column_int(0), s->column_double(1), s->column_text(2), s->column_text(3),
                   s->column_int(4), s->column_text(5)});
  }
  return out;
}

}  // namespace fp::store
