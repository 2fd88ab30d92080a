// SQLite store: schema creation and migration, the task life cycle, idempotent
// batched telemetry, events.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "file_size_limit.h"
#include "store/migrations.h"
#include "store/run_store.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "temp_dir.h"
#include "util/file_io.h"

using namespace fp::store;
namespace fs = std::filesystem;

namespace {

using fp::testing::TempDir;

std::unique_ptr<Store> open_store(const std::string& path) {
  auto store = Store::open(path);
  REQUIRE(store.ok());
  return std::move(store).value();
}

const std::string kStoreSha(64, 'b');

// A model, a campaign over "fsdd" and two tasks; returns the campaign id.
int64_t seed_campaign(Store& store, const std::string& name = "c1", bool open = false) {
  REQUIRE(store.put_model({kStoreSha, 1000, "{\"arch\":\"cnn\"}", "{}", "models/b.fpm", 1.0}).ok());
  CampaignRecord c;
  c.name = name;
  c.model_sha256 = kStoreSha;
  c.dataset = "fsdd";
  c.prune_config_json = "{}";
  c.open_enrollment = open;
  c.created_at = 2.0;
  auto id = store.create_campaign(c);
  REQUIRE(id.ok());
  return *id;
}

TelemetryRecord report(const std::string& key, int64_t task, int64_t campaign) {
  TelemetryRecord r;
  r.idempotency_key = key;
  r.task_id = task;
  r.campaign_id = campaign;
  r.agent_id = "agent-1";
  r.method = "fineprune";
  r.individual = "speaker=jackson";
  r.target_sparsity = 0.5;
  r.sparsity = 0.48;
  r.overall_sparsity = 0.44;
  r.layer_sparsity_json = R"([{"name":"conv1","units":16,"active_units":8}])";
  r.accuracy_before = 0.8;
  r.accuracy_after = 0.9;
  r.curve_json = R"([[0.5,0.48,0.9,500]])";
  r.adaptation_samples = 200;
  r.eval_samples = 100;
  r.wall_seconds = 1.25;
  r.macs_dense = 1000;
  r.macs_effective = 500;
  r.compute_macs = 7000000;
  r.peak_memory_bytes = 1 << 20;
  r.received_at = 3.0;
  return r;
}

}  // namespace

TEST_CASE("a new store is created at the latest schema version in WAL mode", "[store]") {
  TempDir dir;
  auto store = open_store(dir.file("fp.db"));
  CHECK(store->schema_version() == latest_schema_version());
  CHECK(latest_schema_version() == 9);  // 9: the database's identity
  auto mode = store->db().prepare("PRAGMA journal_mode");
  REQUIRE(mode.ok());
  REQUIRE(*mode->step());
  CHECK(mode->column_text(0) == "wal");
  for (const char* table :
       {"agents", "models", "campaigns", "tasks", "telemetry", "events", "agent_keys"}) {
    auto n = store->db().query_int(
        std::string("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='") + table +
        "'");
    REQUIRE(n.ok());
    CHECK(*n == 1);
  }
}

TEST_CASE("a database has an identity of its own, kept for as long as the file lives", "[store]") {
  TempDir dir;
  std::string first;
  {
    auto store = open_store(dir.file("a.db"));
    auto id = store->identity();
    REQUIRE(id.ok());
    first = *id;
    CHECK(first.size() == 32);
    CHECK(first.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  CHECK(*open_store(dir.file("a.db"))->identity() == first);  // reopened: the same
  CHECK(*open_store(dir.file("b.db"))->identity() != first);  // another file: another
  // A database of schema 8 gets one when migrated.
  {
    auto db = fp::sql::Database::open(dir.file("v8.db"));
    REQUIRE(db.ok());
    for (int v = 0; v < 8; ++v) REQUIRE((*db)->exec(migrations()[v]).ok());
    REQUIRE((*db)->exec("PRAGMA user_version = 8").ok());
  }
  auto migrated = open_store(dir.file("v8.db"))->identity();
  REQUIRE(migrated.ok());
  CHECK(migrated->size() == 32);
}

TEST_CASE("an older database is migrated, a newer one refused", "[store]") {
  TempDir dir;
  {
    auto db = fp::sql::Database::open(dir.file("old.db"));
    REQUIRE(db.ok());
    REQUIRE((*db)->exec(migrations()[0]).ok());
    REQUIRE((*db)->exec("PRAGMA user_version = 1").ok());
    REQUIRE((*db)
                ->exec("INSERT INTO agents (agent_id, first_seen, last_seen) "
                       "VALUES ('kept', 1, 1)")
                .ok());
  }
  {
    // The migration is said (it is one way), through the log of whichever program opened it.
    std::ostringstream said;
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(said)));
    auto store = open_store(dir.file("old.db"));
    spdlog::set_default_logger(previous);
    CHECK(said.str().find("database " + dir.file("old.db") + ": schema 1 migrated to " +
                          std::to_string(latest_schema_version()) +
                          " (older fineprune programs will refuse it)") != std::string::npos);
    CHECK(store->schema_version() == latest_schema_version());
    auto idx = store->db().query_int(
        "SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND name='tasks_by_status'");
    REQUIRE(idx.ok());
    CHECK(*idx == 1);
    auto agents = store->agents();
    REQUIRE(agents.ok());
    REQUIRE(agents->size() == 1);
    CHECK((*agents)[0].agent_id == "kept");
    REQUIRE(store->db().exec("PRAGMA user_version = 99").ok());
  }
  auto newer = Store::open(dir.file("old.db"));
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.status().message().find("newer than this program") != std::string::npos);
  CHECK(newer.status().message().find("old.db") != std::string::npos);
}

TEST_CASE("schema 8 keeps every telemetry row and column, without the key's unique index",
          "[store]") {
  TempDir dir;
  const std::string path = dir.file("v7.db");
  {
    auto db = fp::sql::Database::open(path);
    REQUIRE(db.ok());
    for (int v = 0; v < 7; ++v) REQUIRE((*db)->exec(migrations()[v]).ok());
    REQUIRE((*db)->exec("PRAGMA user_version = 7").ok());
    REQUIRE(
        (*db)
            ->exec("INSERT INTO models (sha256, size_bytes, spec_json, path, created_at) "
                   "VALUES ('m', 1, '{}', 'm.fpm', 1);"
                   "INSERT INTO campaigns (id, name, model_sha256, dataset, prune_config_json,"
                   " created_at) VALUES (3, 'c', 'm', 'fsdd', '{}', 1);"
                   "INSERT INTO tasks (id, campaign_id, individual) VALUES (5, 3, 'i');"
                   "INSERT INTO telemetry VALUES (9, 'k', 5, 3, 'a', 'fineprune', 'i', 0.5,"
                   " 0.4, 0.3, '[1]', 0.7, 0.8, '[2]', 10, 20, 1.5, 100, 60, 4096, 2.5, 'laplace',"
                   " 0.9, NULL, 7000, 11, 12, 0, 0.61, 0.62, 0.63, 13, 14);")
            .ok());
  }
  auto store = open_store(path);
  CHECK(store->schema_version() == latest_schema_version());
  auto rows = store->telemetry();
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  const auto& r = (*rows)[0];
  CHECK(r.id == 9);
  CHECK(r.idempotency_key == "k");
  CHECK(r.task_id == 5);
  CHECK(r.campaign_id == 3);
  CHECK(r.method == "fineprune");
  CHECK(r.layer_sparsity_json == "[1]");
  CHECK(r.curve_json == "[2]");
  CHECK(r.accuracy_after == 0.8);
  CHECK(r.received_at == 2.5);
  CHECK(r.dp_mechanism == "laplace");
  CHECK_FALSE(r.dp_delta.has_value());
  CHECK(r.compute_macs == 7000);
  CHECK(r.compact_parameters == 11);
  CHECK(r.compact_bytes == 12);
  CHECK_FALSE(r.evaluated);
  CHECK(r.agreement == 0.63);
  CHECK(r.model_bytes == 13);
  CHECK(r.skipped_files == 14);
  // One unique index left, (task_id, method); the campaign index rebuilt.
  auto unique = store->db().query_int(
      "SELECT COUNT(*) FROM pragma_index_list('telemetry') WHERE \"unique\" = 1");
  REQUIRE(unique.ok());
  CHECK(*unique == 1);
  auto by_campaign = store->db().query_int(
      "SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND name='telemetry_by_campaign'");
  REQUIRE(by_campaign.ok());
  CHECK(*by_campaign == 1);
  // Still one row per (task, method).
  auto again = report("k2", 5, 3);
  again.agent_id = "a";
  auto dup = store->insert_telemetry({again});
  REQUIRE(dup.ok());
  CHECK((*dup)[0].outcome == InsertOutcome::kDuplicate);
}

TEST_CASE("agents are upserted and keep their first-seen time", "[store]") {
  auto store = open_store(":memory:");
  REQUIRE(store->upsert_agent({"a1", 10, 10, 2, 512, "[\"fsdd/x\"]", "online", "s1"}).ok());
  REQUIRE(store->upsert_agent({"a1", 20, 20, 4, 1024, "[\"fsdd/y\"]", "online", "s2"}).ok());
  REQUIRE(store->set_agent_status("a1", "offline", 30).ok());
  auto agents = store->agents();
  REQUIRE(agents.ok());
  REQUIRE(agents->size() == 1);
  const auto& a = (*agents)[0];
  CHECK(a.first_seen == 10);
  CHECK(a.last_seen == 30);
  CHECK(a.threads == 4);
  CHECK(a.memory_mb == 1024);
  CHECK(a.datasets_json == "[\"fsdd/y\"]");
  CHECK(a.status == "offline");
  CHECK(a.session_id == "s2");
}

TEST_CASE("models are content addressed", "[store]") {
  auto store = open_store(":memory:");
  REQUIRE(store->put_model({kStoreSha, 1000, "{}", "{\"acc\":\"0.9\"}", "models/x.fpm", 1}).ok());
  REQUIRE(store->put_model({kStoreSha, 9999, "{}", "{}", "elsewhere", 2}).ok());  // no-op
  auto m = store->find_model(kStoreSha);
  REQUIRE(m.ok());
  REQUIRE(m->has_value());
  CHECK((*m)->size_bytes == 1000);
  CHECK((*m)->meta_json == "{\"acc\":\"0.9\"}");
  auto missing = store->find_model(std::string(64, 'c'));
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  auto all = store->models();
  REQUIRE(all.ok());
  CHECK(all->size() == 1);
}

TEST_CASE("campaigns need a registered model and a unique name", "[store]") {
  auto store = open_store(":memory:");
  CampaignRecord c;
  c.name = "orphan";
  c.model_sha256 = kStoreSha;  // not registered
  c.dataset = "fsdd";
  c.prune_config_json = "{}";
  CHECK_FALSE(store->create_campaign(c).ok());
  int64_t id = seed_campaign(*store, "c1");
  CHECK(id > 0);
  c.name = "c1";
  auto dup = store->create_campaign(c);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().code() == fp::Status::Code::kInvalidArgument);
  CHECK(dup.status().message().find("c1") != std::string::npos);
  auto found = store->find_campaign("c1");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->id == id);
  CHECK((*found)->dataset == "fsdd");
  REQUIRE(store->set_campaign_status(id, "done").ok());
  CHECK((*store->campaign(id))->status == "done");
}

TEST_CASE("tasks go pending, assigned, requeued, done", "[store]") {
  auto store = open_store(":memory:");
  int64_t c = seed_campaign(*store);
  auto t1 = store->add_task(c, "speaker=jackson");
  auto t2 = store->add_task(c, "speaker=theo");
  REQUIRE(t1.ok());
  REQUIRE(t2.ok());
  auto again = store->add_task(c, "speaker=jackson");
  REQUIRE(again.ok());
  CHECK(*again == *t1);

  auto found = store->find_pending_task("fsdd", "speaker=theo");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->id == *t2);
  CHECK_FALSE(store->find_pending_task("fmnist", "speaker=theo")->has_value());

  REQUIRE(store->assign_task(*t2, "agent-1", 5.0).ok());
  CHECK_FALSE(store->assign_task(*t2, "agent-2", 6.0).ok());  // not pending any more
  CHECK_FALSE(store->find_pending_task("fsdd", "speaker=theo")->has_value());
  auto task = store->task(*t2);
  REQUIRE(task->has_value());
  CHECK((*task)->status == "assigned");
  CHECK((*task)->agent_id == "agent-1");
  CHECK((*task)->attempts == 1);

  CHECK(*store->requeue_task(*t2));
  CHECK_FALSE(*store->requeue_task(*t2));  // already pending
  REQUIRE(store->assign_task(*t2, "agent-2", 7.0).ok());
  CHECK((*store->task(*t2))->attempts == 2);
  REQUIRE(*store->requeue_task(*t2));
  REQUIRE(store->assign_task(*t2, "agent-2", 7.5, /*new_attempt=*/false).ok());  // a reclaim
  CHECK((*store->task(*t2))->attempts == 2);
  REQUIRE(store->finish_task(*t2, true, "", 8.0).ok());
  REQUIRE(store->assign_task(*t1, "agent-3", 9.0).ok());

  auto counts = store->task_counts(c);
  REQUIRE(counts.ok());
  CHECK(counts->pending == 0);
  CHECK(counts->assigned == 1);
  CHECK(counts->done == 1);
  CHECK(counts->total() == 2);
  CHECK(*store->has_unfinished_tasks(c));  // t1 is assigned
  // What an individual's data holds: an open task (t1 assigned), all ended (t2 done), none.
  using DataTasks = fp::store::Store::DataTasks;
  CHECK(*store->data_tasks("fsdd", "speaker=jackson") == DataTasks::kOpen);
  CHECK(*store->data_tasks("fsdd", "speaker=theo") == DataTasks::kAllEnded);
  CHECK(*store->data_tasks("fsdd", "speaker=lucas") == DataTasks::kNone);
  CHECK(*store->data_tasks("fmnist", "speaker=jackson") == DataTasks::kNone);

  auto requeued = store->requeue_all_assigned();
  REQUIRE(requeued.ok());
  CHECK(*requeued == std::vector<int64_t>{*t1});
  CHECK((*store->task(*t1))->status == "pending");
  CHECK((*store->task(*t1))->agent_id == "agent-3");  // it alone may reclaim the task
  REQUIRE(store->assign_task(*t1, "agent-3", 9.5, /*new_attempt=*/false).ok());
  REQUIRE(*store->requeue_task(*t1, /*keep_holder=*/false));  // e.g. past its deadline
  CHECK((*store->task(*t1))->agent_id.empty());
  CHECK(*store->has_unfinished_tasks(c));  // t1 is pending
  REQUIRE(store->assign_task(*t1, "agent-4", 10.0).ok());
  REQUIRE(store->finish_task(*t1, false, "gave up", 11.0).ok());
  CHECK_FALSE(*store->has_unfinished_tasks(c));  // one done, one failed: finished
  CHECK_FALSE(store->finish_task(999, false, "x", 1.0).ok());
}

TEST_CASE("failed tasks go back to pending, their campaign running, their errors kept in events",
          "[store]") {
  auto store = open_store(":memory:");
  const int64_t a = seed_campaign(*store, "a"), b = seed_campaign(*store, "b");
  const int64_t a1 = *store->add_task(a, "speaker=jackson"),
                a2 = *store->add_task(a, "speaker=theo");
  const int64_t b1 = *store->add_task(b, "speaker=jackson");
  for (int64_t t : {a1, a2, b1}) {
    REQUIRE(store->assign_task(t, "agent-" + std::to_string(t), 1.0).ok());
    REQUIRE(store->requeue_task(t).ok());
    REQUIRE(store->assign_task(t, "agent-" + std::to_string(t), 2.0).ok());  // attempt 2
  }
  REQUIRE(store->finish_task(a1, false, "out of memory", 3.0).ok());
  REQUIRE(store->finish_task(a2, true, "", 3.0).ok());
  REQUIRE(store->finish_task(b1, false, "gave up after 2 attempts", 3.0).ok());
  REQUIRE(store->set_campaign_status(a, "done").ok());
  REQUIRE(store->set_campaign_status(b, "done").ok());

  // One campaign's: the other's failed task stays failed.
  auto retried = store->retry_failed_tasks(a, 4.0);
  REQUIRE(retried.ok());
  CHECK(*retried == std::vector<int64_t>{a1});
  const TaskRecord t = **store->task(a1);
  CHECK(t.status == "pending");
  CHECK(t.attempts == 0);  // a full allowance again
  CHECK(t.error.empty());
  CHECK(t.agent_id == "agent-" + std::to_string(a1));  // its holder may still reclaim it
  CHECK((*store->task(a2))->status == "done");         // done stays done
  CHECK((*store->task(b1))->status == "failed");
  CHECK((*store->campaign(a))->status == "running");
  CHECK((*store->campaign(b))->status == "done");
  auto found = store->find_pending_task("fsdd", "speaker=jackson");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->id == a1);
  auto events = store->events();
  REQUIRE(events.ok());
  REQUIRE(events->size() == 1);
  CHECK(events->back().kind == "retry");
  CHECK(events->back().task_id == a1);
  CHECK(events->back().detail == "failed before: out of memory");

  // Every campaign's (0); none left: nothing happens.
  retried = store->retry_failed_tasks(0, 5.0);
  REQUIRE(retried.ok());
  CHECK(*retried == std::vector<int64_t>{b1});
  CHECK((*store->campaign(b))->status == "running");
  retried = store->retry_failed_tasks(0, 6.0);
  REQUIRE(retried.ok());
  CHECK(retried->empty());
  CHECK(store->events()->size() == 2);

  // The coordinator marks a campaign done only where no task is pending or assigned: a retry
  // beside it may have put some back since it counted.
  CHECK_FALSE(*store->mark_campaign_done(b));  // b1 pending again
  CHECK((*store->campaign(b))->status == "running");
  REQUIRE(store->assign_task(b1, "agent-b", 7.0).ok());
  CHECK_FALSE(*store->mark_campaign_done(b));  // assigned
  REQUIRE(store->finish_task(b1, true, "", 8.0).ok());
  CHECK(*store->mark_campaign_done(b));
  CHECK((*store->campaign(b))->status == "done");
  CHECK_FALSE(*store->mark_campaign_done(b));  // done already: unchanged
}

TEST_CASE("a store that reads while another writes sees each write once it is committed",
          "[store]") {
  // A reader (the dashboard's, fp-sim's progress) keeps its Store for a whole campaign. A
  // statement left at its row would hold the reader's snapshot: it would see nothing
  // committed since, and the log could not be checkpointed past it (checked: this fails
  // when find_campaign keeps its row).
  TempDir dir;
  auto writer = open_store(dir.file("fp.db"));
  auto reader = open_store(dir.file("fp.db"));
  const int64_t c = seed_campaign(*writer);
  const int64_t t = *writer->add_task(c, "speaker=theo");
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    auto counts = reader->task_counts(c);
    REQUIRE(counts.ok());
    CHECK(counts->done == (round > 0 ? 1 : 0));
    auto campaign = reader->find_campaign("c1");
    REQUIRE(campaign.ok());
    CHECK((*campaign)->status == (round > 1 ? "done" : "running"));
    CHECK(reader->task(t)->has_value());
    CHECK(reader->has_unfinished_tasks(c).ok());
    CHECK(reader->identity().ok());
    CHECK(reader->telemetry().ok());
    CHECK(reader->tasks().ok());
    CHECK(reader->events().ok());
    CHECK(reader->agents().ok());
    CHECK(reader->campaigns().ok());
    CHECK(reader->models().ok());
    CHECK(reader->agent_keys().ok());
    CHECK(reader->telemetry_count().ok());
    if (round == 0) {
      REQUIRE(writer->assign_task(t, "agent-1", 1.0).ok());
      REQUIRE(writer->finish_task(t, true, "", 2.0).ok());
    } else if (round == 1) {
      REQUIRE(writer->set_campaign_status(c, "done").ok());
    }
  }
}

TEST_CASE("open enrollment creates one task per announced individual", "[store]") {
  auto store = open_store(":memory:");
  int64_t open_c = seed_campaign(*store, "open", true);
  int64_t closed_c = seed_campaign(*store, "closed", false);
  REQUIRE(store->enroll("fsdd", "speaker=lucas").ok());
  REQUIRE(store->enroll("fsdd", "speaker=lucas").ok());
  REQUIRE(store->enroll("fmnist", "classes=1+2").ok());  // no campaign over it
  auto open_tasks = store->tasks(open_c);
  REQUIRE(open_tasks.ok());
  REQUIRE(open_tasks->size() == 1);
  CHECK((*open_tasks)[0].individual == "speaker=lucas");
  CHECK(store->tasks(closed_c)->empty());
  CHECK(store->tasks()->size() == 1);
}

TEST_CASE("telemetry is stored once per (task, method), whatever its key", "[store]") {
  auto store = open_store(":memory:");
  int64_t c = seed_campaign(*store);
  int64_t t = *store->add_task(c, "speaker=jackson");

  auto k2 = report("k2", t, c);
  k2.method = "finetune";  // one row per (task, method): another method
  auto first = store->insert_telemetry(
      {report("k1", t, c), k2, report("k1", t, c), report("bad", 12345, c)});
  REQUIRE(first.ok());
  REQUIRE(first->size() == 4);
  CHECK((*first)[0].outcome == InsertOutcome::kInserted);
  CHECK((*first)[1].outcome == InsertOutcome::kInserted);
  CHECK((*first)[2].outcome == InsertOutcome::kDuplicate);
  CHECK((*first)[3].outcome == InsertOutcome::kFailed);  // no task 12345
  CHECK((*first)[3].error.find("FOREIGN KEY") != std::string::npos);

  auto retry = store->insert_telemetry({k2});
  REQUIRE(retry.ok());
  CHECK((*retry)[0].outcome == InsertOutcome::kDuplicate);
  CHECK(*store->telemetry_count() == 2);
  // Keys are scoped by agent: another agent's "k1" is its own key (on another method).
  auto other = report("k1", t, c);
  other.agent_id = "agent-2";
  other.method = "lottery";
  auto scoped = store->insert_telemetry({other});
  REQUIRE(scoped.ok());
  CHECK((*scoped)[0].outcome == InsertOutcome::kInserted);
  // A second row for a (task, method) is a duplicate, whatever its key.
  auto again = report("k9", t, c);
  auto second = store->insert_telemetry({again});
  REQUIRE(second.ok());
  CHECK((*second)[0].outcome == InsertOutcome::kDuplicate);
  CHECK(*store->telemetry_count() == 3);
  // A key is not unique (schema 8): the same agent's "k1" on another method is a new row.
  auto reused = report("k1", t, c);
  reused.method = "em_prior";
  auto third = store->insert_telemetry({reused});
  REQUIRE(third.ok());
  CHECK((*third)[0].outcome == InsertOutcome::kInserted);
  CHECK(*store->telemetry_count() == 4);

  auto unlabeled = report("k3", t, c);
  unlabeled.method = "svd";
  unlabeled.accuracy_before.reset();
  unlabeled.accuracy_after.reset();
  REQUIRE(store->insert_telemetry({unlabeled}).ok());
  auto rows = store->telemetry(c);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 5);
  const auto& r = (*rows)[0];
  CHECK(r.idempotency_key == "k1");
  CHECK(r.method == "fineprune");
  CHECK(r.sparsity == 0.48);
  CHECK(r.overall_sparsity == 0.44);
  CHECK(r.accuracy_before == 0.8);
  CHECK(r.accuracy_after == 0.9);
  CHECK(r.layer_sparsity_json == report("x", 0, 0).layer_sparsity_json);
  CHECK(r.curve_json == "[[0.5,0.48,0.9,500]]");
  CHECK(r.adaptation_samples == 200);
  CHECK(r.eval_samples == 100);
  CHECK(r.macs_effective == 500);
  CHECK(r.compute_macs == 7000000);
  CHECK(r.peak_memory_bytes == (1 << 20));
  CHECK_FALSE((*rows)[4].accuracy_before.has_value());
  CHECK_FALSE((*rows)[4].accuracy_after.has_value());
  CHECK(store->telemetry(c + 100)->empty());
}

TEST_CASE("events are appended in batches and read newest-last", "[store]") {
  auto store = open_store(":memory:");
  std::vector<EventRecord> events;
  for (int i = 0; i < 5; ++i)
    events.push_back({0, double(i), "join", "a" + std::to_string(i), 0, ""});
  events.push_back({0, 9.0, "failure", "a1", 7, "silent for 3000 ms"});
  REQUIRE(store->add_events(events).ok());
  auto last = store->events(2);
  REQUIRE(last.ok());
  REQUIRE(last->size() == 2);
  CHECK((*last)[0].agent_id == "a4");
  CHECK((*last)[1].kind == "failure");
  CHECK((*last)[1].task_id == 7);
  CHECK((*last)[1].detail == "silent for 3000 ms");
  CHECK(store->events()->size() == 6);
}

TEST_CASE("the events table keeps the newest events it is told to, catching up in steps",
          "[store]") {
  auto store = open_store(":memory:");
  auto batch = [](int first, int n) {
    std::vector<EventRecord> out;
    for (int i = first; i < first + n; ++i)
      out.push_back({0, double(i), "join", "a" + std::to_string(i), 0, ""});
    return out;
  };
  auto count = [&] {
    auto all = store->events(1000000);
    REQUIRE(all.ok());
    return all->size();
  };
  // Kept all by default: a coordinator serving for months grew it for ever.
  const int64_t many = Store::kEventsTrimmedAtOnce + 5000;
  REQUIRE(store->add_events(batch(0, static_cast<int>(many))).ok());
  CHECK(count() == static_cast<size_t>(many));
  // Told to keep 10: each add removes at most kEventsTrimmedAtOnce of the oldest.
  store->keep_newest_events(10);
  REQUIRE(store->add_events(batch(static_cast<int>(many), 1)).ok());
  CHECK(count() == static_cast<size_t>(many + 1 - Store::kEventsTrimmedAtOnce));
  REQUIRE(store->add_events(batch(static_cast<int>(many) + 1, 1)).ok());
  CHECK(count() == 10);
  // Then the oldest go as new ones come; the newest stay, in order.
  REQUIRE(store->add_events(batch(static_cast<int>(many) + 2, 3)).ok());
  auto kept = store->events(100);
  REQUIRE(kept.ok());
  REQUIRE(kept->size() == 10);
  CHECK(kept->front().agent_id == "a" + std::to_string(many - 5));
  CHECK(kept->back().agent_id == "a" + std::to_string(many + 4));
}

TEST_CASE("a transaction opened inside another is a savepoint of it", "[store]") {
  TempDir dir;
  auto store = open_store(dir.file("fp.db"));
  auto other = open_store(dir.file("fp.db"));  // another connection: committed data only
  auto event = [](const char* kind) {
    return std::vector<EventRecord>{{0, 1.0, kind, "a", 0, ""}};
  };
  auto kinds = [&]() {
    std::vector<std::string> k;
    auto events = other->events();
    REQUIRE(events.ok());
    for (const auto& e : *events) k.push_back(e.kind);
    return k;
  };
  {
    fp::sql::Transaction outer(store->db());
    REQUIRE(outer.begin_status().ok());
    CHECK_FALSE(outer.nested());
    REQUIRE(store->add_events(event("join")).ok());  // add_events opens its own
    {
      fp::sql::Transaction inner(store->db());
      REQUIRE(inner.begin_status().ok());
      CHECK(inner.nested());
      REQUIRE(store->add_events(event("leave")).ok());
    }  // not committed: its own write is undone, the outer's kept
    {
      fp::sql::Transaction inner(store->db());
      REQUIRE(store->add_events(event("failure")).ok());
      REQUIRE(inner.commit().ok());
    }
    CHECK(kinds().empty());  // nothing is durable before the outer commit
    REQUIRE(outer.commit().ok());
  }
  CHECK(kinds() == std::vector<std::string>{"join", "failure"});
  {
    fp::sql::Transaction outer(store->db());
    fp::sql::Transaction inner(store->db());
    REQUIRE(store->add_events(event("lost")).ok());
    REQUIRE(inner.commit().ok());
  }  // the outer rolled back: the committed savepoint with it
  CHECK(kinds() == std::vector<std::string>{"join", "failure"});
  CHECK(store->events()->size() == 2);
}

TEST_CASE("a connection that ran transactions closes, leaving no write-ahead log behind",
          "[store]") {
  // Its transaction statements are prepared once and kept: the close must finalize them, or
  // SQLite refuses it (the connection stays open and its log stays).
  TempDir dir;
  const std::string path = dir.file("fp.db");
  {
    auto store = open_store(path);
    for (int i = 0; i < 3; ++i) {
      fp::sql::Transaction outer(store->db());
      REQUIRE(store->add_events({{0, 1.0, "join", "a", 0, ""}}).ok());  // a savepoint in it
      if (i != 1) REQUIRE(outer.commit().ok());                         // the second rolls back
    }
    REQUIRE(std::filesystem::exists(path + "-wal"));
  }
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));
  CHECK(open_store(path)->events()->size() == 2);
}

TEST_CASE("a transaction that cannot begin says why, naming the database", "[store]") {
  TempDir dir;
  const std::string path = dir.file("fp.db");
  auto first = fp::sql::Database::open(path);
  auto second = fp::sql::Database::open(path);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE((*first)->exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x)").ok());
  fp::sql::Transaction holding(**first);
  REQUIRE(holding.begin_status().ok());
  fp::sql::Transaction waiting(**second);  // no busy timeout: the write lock is taken
  CHECK_FALSE(waiting.begin_status().ok());
  CHECK_THAT(waiting.begin_status().message(), Catch::Contains(path) && Catch::Contains("locked"));
  CHECK_FALSE(waiting.commit().ok());
  REQUIRE(holding.commit().ok());
  fp::sql::Transaction later(**second);  // the lock is free again: the same statement works
  CHECK(later.begin_status().ok());
  CHECK(later.commit().ok());
}

TEST_CASE("data survive closing and reopening the file", "[store]") {
  TempDir dir;
  int64_t c = 0;
  {
    auto store = open_store(dir.file("fp.db"));
    c = seed_campaign(*store);
    int64_t t = *store->add_task(c, "speaker=jackson");
    REQUIRE(store->insert_telemetry({report("k1", t, c)}).ok());
  }
  auto store = open_store(dir.file("fp.db"));
  CHECK(*store->telemetry_count() == 1);
  CHECK(store->tasks(c)->size() == 1);
}

TEST_CASE("a database opened unchanged is read, never written, an older one through a copy",
          "[store]") {
  // fp-coordinator serve --check reads what a start would find and must change nothing.
  TempDir dir, scratch;
  const std::string current = dir.file("current.db"), old = dir.file("old.db");
  {
    auto store = open_store(current);
    REQUIRE(store->upsert_agent({"a1", 1.0, 1.0, 2, 512, "[]", "online", ""}).ok());
  }
  {
    auto db = fp::sql::Database::open(old);
    REQUIRE(db.ok());
    REQUIRE((*db)->exec(migrations()[0]).ok());
    REQUIRE((*db)->exec("PRAGMA user_version = 1").ok());
    REQUIRE((*db)
                ->exec("INSERT INTO agents (agent_id, first_seen, last_seen) VALUES ('kept', 1, 1)")
                .ok());
  }
  const std::string current_bytes = fp::read_file(current).value();
  const std::string old_bytes = fp::read_file(old).value();

  int migrated_from = -1;
  {
    auto store = Store::open_unchanged(current, scratch.path.string(), &migrated_from);
    REQUIRE(store.ok());
    CHECK(migrated_from == 0);
    auto agents = (*store)->agents();
    REQUIRE(agents.ok());
    REQUIRE(agents->size() == 1);
    CHECK((*agents)[0].agent_id == "a1");
    // Opened read-only: a write through it fails.
    CHECK_FALSE((*store)->upsert_agent({"a2", 2.0, 2.0, 1, 1, "[]", "online", ""}).ok());
  }
  CHECK(fp::read_file(current).value() == current_bytes);
  CHECK(fs::is_empty(scratch.path));  // a current schema is read in place
  {
    auto store = Store::open_unchanged(old, scratch.path.string(), &migrated_from);
    REQUIRE(store.ok());
    CHECK(migrated_from == 1);
    CHECK((*store)->schema_version() == latest_schema_version());  // the copy, migrated
    auto agents = (*store)->agents();
    REQUIRE(agents.ok());
    REQUIRE(agents->size() == 1);
    CHECK((*agents)[0].agent_id == "kept");
    CHECK((*store)->db().path() == scratch.file("old.db"));
    // What messages name is the file given, not the scratch copy ("no simulation run in
    // /tmp/fp-sim-read.8huMrS/old.db").
    CHECK((*store)->path() == old);
    auto runs = fp::store::RunStore::open_to_read(**store);
    REQUIRE_FALSE(runs.ok());
    CHECK_THAT(runs.status().message(), Catch::StartsWith("no simulation run in " + old));
  }
  CHECK(fp::read_file(old).value() == old_bytes);
  {
    auto db = fp::sql::Database::open(old, fp::sql::Database::Access::kReadOnly);
    REQUIRE(db.ok());
    CHECK(*(*db)->query_int("PRAGMA user_version") == 1);
  }
  // A missing database is not made; a newer one is refused as a start refuses it.
  auto missing = Store::open_unchanged(dir.file("none.db"), scratch.path.string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == fp::Status::Code::kNotFound);
  CHECK_THAT(missing.status().message(), Catch::Contains("none.db does not exist"));
  CHECK_FALSE(fs::exists(dir.file("none.db")));
  REQUIRE(open_store(current)->db().exec("PRAGMA user_version = 99").ok());
  auto newer = Store::open_unchanged(current, scratch.path.string());
  REQUIRE_FALSE(newer.ok());
  CHECK_THAT(newer.status().message(), Catch::Contains("newer than this program"));
}

TEST_CASE("a database's copy holds what was committed, taken while a writer is mid-transaction",
          "[store]") {
  // fp-coordinator backup copies the database of a coordinator that goes on serving.
  TempDir dir;
  const std::string path = dir.file("fp.db"), copy = dir.file("backup/fp.db");
  auto writer = open_store(path);
  REQUIRE(writer->upsert_agent({"committed", 1.0, 1.0, 1, 1, "[]", "online", ""}).ok());
  fs::create_directories(dir.file("backup"));
  {
    fp::sql::Transaction open_transaction(writer->db());
    REQUIRE(open_transaction.begin_status().ok());
    REQUIRE(writer->upsert_agent({"uncommitted", 2.0, 2.0, 1, 1, "[]", "online", ""}).ok());
    REQUIRE(Store::copy(path, copy).ok());
  }  // rolled back
  auto copied = open_store(copy);
  auto agents = copied->agents();
  REQUIRE(agents.ok());
  REQUIRE(agents->size() == 1);
  CHECK((*agents)[0].agent_id == "committed");
  CHECK(*copied->identity() == *writer->identity());  // the same database, not a new one
  // Never over a file, never from one that is not there.
  const fp::Status over = Store::copy(path, copy);
  CHECK(over.code() == fp::Status::Code::kInvalidArgument);
  CHECK_THAT(over.message(), Catch::EndsWith(copy + " exists"));
  CHECK(Store::copy(dir.file("none.db"), dir.file("x.db")).code() == fp::Status::Code::kNotFound);
  CHECK_FALSE(fs::exists(dir.file("x.db")));
}

TEST_CASE("a file that is not a database is a clear error", "[store]") {
  TempDir dir;
  {
    std::FILE* f = std::fopen(dir.file("junk.db").c_str(), "wb");
    REQUIRE(f);
    std::fputs("this is certainly not an SQLite database file, just text.......", f);
    std::fclose(f);
  }
  auto store = Store::open(dir.file("junk.db"));
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().message().find("junk.db") != std::string::npos);
  // A folder was SQLite's "disk I/O error".
  std::filesystem::create_directory(dir.file("models"));
  auto folder = Store::open(dir.file("models"));
  CHECK(folder.status().message() ==
        "database " + dir.file("models") + " is a folder, not an SQLite file");
  CHECK(Store::open_unchanged(dir.file("models"), dir.file("scratch")).status().message() ==
        "database " + dir.file("models") + " is a folder, not an SQLite file");
}

TEST_CASE("a sound database that cannot be read for want of space is not called damaged",
          "[store]") {
  // A full disk, as a file size limit: SQLite cannot size the -shm file beside a WAL
  // database. It was "damaged or not an SQLite database", and an operator told so may
  // restore over a sound file.
  TempDir dir;
  const std::string path = dir.file("fp.db");
  { open_store(path); }  // WAL, closed: no -shm file left
  REQUIRE_FALSE(fs::exists(path + "-shm"));
  auto full = fp::testing::with_file_size_limit(1024, [&] { return Store::open(path); });
  REQUIRE_FALSE(full.ok());
  INFO(full.status().to_string());
  CHECK(full.status().code() == fp::Status::Code::kIOError);
  CHECK_THAT(full.status().message(),
             Catch::StartsWith("database " + path + " cannot be read now (") &&
                 Catch::Contains("a full disk, or no room for its -shm file beside it?") &&
                 Catch::EndsWith("it was left untouched"));
  // With room to open it and none to add to it: a campaign that cannot be stored is an IO
  // error naming the file, on one line (it was "Invalid argument", the whole INSERT printed).
  auto store = open_store(path);
  REQUIRE(store->put_model({kStoreSha, 1000, "{}", "{}", "models/b.fpm", 1.0}).ok());
  CampaignRecord c;
  c.name = "big";
  c.model_sha256 = kStoreSha;
  c.dataset = "fsdd";
  c.prune_config_json = "{}";
  auto none = fp::testing::with_file_size_limit(fs::file_size(path + "-wal"),
                                                [&] { return store->create_campaign(c); });
  REQUIRE_FALSE(none.ok());
  INFO(none.status().to_string());
  CHECK(none.status().code() == fp::Status::Code::kIOError);
  CHECK_THAT(none.status().message(),
             Catch::StartsWith("campaign 'big': " + path + ": INSERT INTO campaigns (name, "));
  CHECK(none.status().message().find('\n') == std::string::npos);
}

TEST_CASE("a database in a folder that does not exist yet is created with its folder") {
  TempDir dir;
  const std::string path = dir.file("out/nested/fineprune.db");
  auto store = open_store(path);
  CHECK(fs::exists(path));
}

TEST_CASE("another program's database is refused and left as it was; an empty file is taken") {
  TempDir dir;
  const std::string path = dir.file("theirs.db");
  {
    auto db = fp::sql::Database::open(path);
    REQUIRE(db.ok());
    REQUIRE((*db)
                ->exec("CREATE TABLE a (x); CREATE TABLE b (x); CREATE TABLE c (x); "
                       "CREATE TABLE d (x); INSERT INTO a VALUES (1)")
                .ok());
  }
  const auto size = fs::file_size(path);
  auto refused = Store::open(path);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message() ==
        "database " + path +
            " is not fineprune's (it holds a, b, c, ... and no fineprune schema version); it was "
            "left untouched");
  CHECK(fs::file_size(path) == size);
  CHECK_FALSE(fs::exists(path + "-wal"));  // not even switched to WAL
  auto db = fp::sql::Database::open(path);
  REQUIRE(db.ok());
  CHECK(*(*db)->query_int("SELECT count(*) FROM sqlite_master") == 4);
  CHECK(*(*db)->query_int("PRAGMA user_version") == 0);

  // An empty file (touched, or left by an open that wrote nothing) has no tables: ours.
  const std::string empty = dir.file("empty.db");
  { std::ofstream touch(empty); }
  auto store = Store::open(empty);
  REQUIRE(store.ok());
  CHECK((*store)->schema_version() == latest_schema_version());
}

TEST_CASE("one holder of a database's lock at a time; the lock goes with its holder") {
  TempDir dir;
  const std::string db = dir.file("runs/a/fp.db");  // its folder is made for the lock
  auto first = fp::store::lock_database(db, "fp-sim run");
  REQUIRE(first.ok());
  CHECK(first->held());
  const std::string text = fp::read_file(db + ".lock").value();
  CHECK(text.rfind("fp-sim run, pid " + std::to_string(::getpid()) + ", since ", 0) == 0);
  CHECK(text.find(" UTC\n") != std::string::npos);
  // A second holder (another descriptor: what another process has) is refused by name.
  auto second = fp::store::lock_database(db, "fp-coordinator serve");
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == fp::Status::Code::kUnavailable);
  CHECK(second.status().message() == "database " + db + " is in use by another process (" +
                                         text.substr(0, text.size() - 1) +
                                         "); stop that one first (lock file " + db + ".lock)");
  { auto gone = std::move(*first); }  // released with its holder
  auto third = fp::store::lock_database(db, "fp-coordinator serve");
  REQUIRE(third.ok());
  CHECK(fp::read_file(db + ".lock").value().rfind("fp-coordinator serve, pid ", 0) == 0);
}

TEST_CASE("whether a database is served is told without taking its lock or writing its file") {
  TempDir dir;
  const std::string db = dir.file("fp.db");
  CHECK(fp::store::database_in_use(db) == false);  // never served: no lock file
  CHECK_FALSE(fs::exists(db + ".lock"));           // and none made by asking
  {
    auto held = fp::store::lock_database(db, "fp-sim run");
    REQUIRE(held.ok());
    const std::string text = fp::read_file(db + ".lock").value();
    CHECK(fp::store::database_in_use(db) == true);
    CHECK(fp::read_file(db + ".lock").value() == text);  // the holder's line left alone
    // Asking took nothing: a second holder is still refused, the first still holds.
    CHECK_FALSE(fp::store::lock_database(db, "fp-coordinator serve").ok());
  }
  CHECK(fp::store::database_in_use(db) == false);                    // released with its holder
  CHECK(fp::store::lock_database(db, "fp-coordinator serve").ok());  // and asking took nothing
  CHECK(fp::store::database_in_use(":memory:") == false);
}

TEST_CASE("a database reached by a symbolic link is locked as itself") {
  // A second coordinator served the file through a symbolic link (its lock file beside the
  // link) and took the first's live tasks. A hard link is only warned about: locking the
  // file itself would drop SQLite's own locks on it when the descriptor closes.
  TempDir dir;
  const std::string db = dir.file("real/fp.db");
  fs::create_directories(dir.file("real"));
  REQUIRE(fp::write_file(db, "").ok());
  fs::create_symlink(db, dir.file("alias.db"));
  fs::create_symlink(dir.file("real"), dir.file("linked"));
  auto first = fp::store::lock_database(db, "fp-coordinator serve");
  REQUIRE(first.ok());
  for (const std::string& name : {dir.file("alias.db"), dir.file("linked/fp.db")}) {
    INFO(name);
    auto second = fp::store::lock_database(name, "fp-coordinator serve");
    REQUIRE_FALSE(second.ok());
    CHECK(second.status().code() == fp::Status::Code::kUnavailable);
    CHECK_THAT(second.status().message(),
               Catch::Contains("is in use by another process (fp-coordinator serve, pid ") &&
                   Catch::EndsWith("(lock file " + db + ".lock)"));
    CHECK(fp::store::database_in_use(name) == true);
    CHECK(fp::store::database_holder(name).value_or("").rfind("fp-coordinator serve, pid ", 0) ==
          0);
  }
  CHECK_FALSE(fs::exists(dir.file("alias.db.lock")));  // none beside the link
  { auto gone = std::move(*first); }
  CHECK(fp::store::database_in_use(dir.file("alias.db")) == false);
  CHECK(fp::store::lock_database(dir.file("alias.db"), "fp-coordinator serve").ok());
  // A second name for the file (two coordinators on hard links each kept a WAL and lost
  // reports): said when it is locked.
  fs::create_hard_link(db, dir.file("real/second.db"));
  std::ostringstream said;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(said)));
  auto hard = fp::store::lock_database(dir.file("real/second.db"), "fp-coordinator serve");
  spdlog::set_default_logger(previous);
  CHECK(hard.ok());
  CHECK_THAT(said.str(), Catch::Contains("database " + dir.file("real/second.db") +
                                         " has 2 names (hard links to one file)"));
}

TEST_CASE("asking whether a database is served never refuses a coordinator starting then") {
  // Asking once took a shared lock for an instant; a coordinator starting in that instant was
  // refused ("in use by another process"). Asked over and over beside a thousand starts:
  // every start must take the lock.
  TempDir dir;
  const std::string db = dir.file("fp.db");
  { REQUIRE(fp::store::lock_database(db, "first").ok()); }  // the lock file exists
  std::atomic<bool> done{false};
  std::atomic<int> answers{0};
  std::thread asker([&] {
    while (!done) {
      if (fp::store::database_in_use(db).has_value()) ++answers;
    }
  });
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    auto lock = fp::store::lock_database(db, "fp-coordinator serve");
    if (!lock.ok()) ++refused;
  }
  done = true;
  asker.join();
  CHECK(answers > 0);
  CHECK(refused == 0);
}
