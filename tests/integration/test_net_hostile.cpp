// Hostile peers against a real coordinator (in-process, loopback TCP): each one is
// written with the project's own codec and tries one thing docs/SECURITY.md says an
// enrolled (or, in plain mode, any) peer must not be able to do: take another device's
// id, task or rows, pre-empt its idempotency keys, grow the coordinator's memory, log or
// database, or store text and numbers that break readers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "agent/agent.h"
#include "dashboard/http_server.h"
#include "fake_runner.h"
#include "net_fixture.h"
#include "protocol/sample_messages.h"
#include "security/curve.h"
#include "security/keys.h"
#include "store/migrations.h"
#include "store/sqlite.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;

namespace {

proto::Hello hello(const std::string& id, const std::string& holding, uint64_t current = 0) {
  return proto::Hello{id, proto::kProtocolVersion, {1, 0, {holding}}, current, "inst-" + id};
}

// Says hello as `id` holding `holding`; returns the task it is assigned.
uint64_t join(RawClient& peer, const std::string& id, const std::string& holding) {
  peer.send(hello(id, holding));
  peer.expect<proto::Welcome>();
  return peer.expect<proto::TaskAssignment>().task_id;
}

// A coordinator serving one individual, "alice", with a reader of its database, and a
// peer that joined as her device and was assigned her task.
struct AliceJoined {
  // `baselines`: the methods the campaign asks for besides fine_prune (set_baselines).
  explicit AliceJoined(const char* dir_name, const std::vector<std::string>& baselines = {})
      : dir(dir_name),
        coord(dir, {"alice"}, 16 << 10, fast_server(6)),
        db(coord.reader(dir)),
        peer(coord.context(), coord.endpoint()),
        task(join_alice(dir, baselines, peer)) {}
  // The baselines are set before the assignment: the coordinator keeps them from then.
  static uint64_t join_alice(const TempDir& dir, const std::vector<std::string>& baselines,
                             RawClient& peer) {
    if (!baselines.empty()) set_baselines(dir, baselines);
    return join(peer, "dev-alice", "toy/alice");
  }
  TempDir dir;
  Coordinator coord;
  std::unique_ptr<store::Store> db;
  RawClient peer;
  const uint64_t task;
};

proto::TelemetryReport report(const std::string& key, uint64_t task, const std::string& method,
                              double accuracy) {
  proto::TelemetryReport r = proto::sample_report(key, task, method);
  r.individual = "alice";  // the task's
  r.accuracy_after = accuracy;
  return r;
}

// A device with `key` says Hello as dev-alice, is given alice's task and leaves: the task is
// pending again (the id is bound to the key from then).
void alice_joins_and_leaves(Coordinator& coord, const security::KeyPair& key,
                            const std::string& server_public, store::Store& db) {
  RawClient a(coord.context(), coord.endpoint(), &key, server_public);
  a.send(hello("dev-alice", "toy/alice"));
  a.expect<proto::Welcome>();
  CHECK(a.expect<proto::TaskAssignment>().individual == "alice");
  a.send(proto::Goodbye{"bye"});
  REQUIRE(wait_until([&] { return task_of(db, "alice")->status == "pending"; }));
}

std::vector<store::EventRecord> events_of(store::Store& db, const std::string& kind) {
  auto events = db.events(100000);
  REQUIRE(events.ok());
  std::vector<store::EventRecord> out;
  for (const auto& e : *events) {
    if (e.kind == kind) out.push_back(e);
  }
  return out;
}

std::vector<store::TelemetryRecord> rows(store::Store& db) {
  auto r = db.telemetry();
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("a device given a new key pair keeps its agent id once the old key is revoked",
          "[net][hostile]") {
  TempDir dir("hostile");
  const auto server_keys = new_keys(), old_key = new_keys(), new_key = new_keys(),
             mallory = new_keys();
  auto config = curve_server(server_keys, 6);
  config.max_ids_per_key = 1;
  Coordinator coord(dir, {"alice", "bob"}, 64 << 10, config);
  auto db = coord.reader(dir);
  REQUIRE(db->enroll_key(old_key.public_key, "alice-phone", 1).ok());
  REQUIRE(db->enroll_key(mallory.public_key, "mallory-phone", 1).ok());
  const auto& server_public = server_keys.public_key;
  alice_joins_and_leaves(coord, old_key, server_public, *db);
  // The phone's key pair replaced: the old one revoked, the new one enrolled. Before, the new
  // key was refused the device's own id for good ("belongs to another enrolled key").
  REQUIRE(*db->revoke_key("alice-phone", 2) == 1);
  REQUIRE(db->enroll_key(new_key.public_key, "alice-phone-2", 2).ok());
  {
    RawClient a(coord.context(), coord.endpoint(), &new_key, server_public);
    a.send(hello("dev-alice", "toy/alice"));
    a.expect<proto::Welcome>();
    CHECK(a.expect<proto::TaskAssignment>().individual == "alice");
    a.send(proto::Goodbye{"bye"});
  }
  REQUIRE(wait_until([&] { return events_of(*db, "identity-moved").size() == 1; }));
  CHECK(*db->identity_owner("dev-alice") == std::optional<std::string>(new_key.public_key));
  // Its new owner is enrolled: another enrolled key still cannot take it, and the moved id
  // counts against the new key's allowance (max_ids_per_key = 1).
  RawClient m(coord.context(), coord.endpoint(), &mallory, server_public);
  m.send(hello("dev-alice", "toy/alice"));
  CHECK_THAT(m.expect<proto::Reject>().reason,
             Catch::Contains("agent id dev-alice belongs to another enrolled key"));
  RawClient b(coord.context(), coord.endpoint(), &new_key, server_public);
  b.send(hello("dev-bob", "toy/bob"));
  CHECK_THAT(b.expect<proto::Reject>().reason, Catch::Contains("max_ids_per_key = 1"));
}

TEST_CASE("an enrolled key cannot take another key's agent id, and holds few sessions",
          "[net][hostile]") {
  TempDir dir("hostile");
  const auto server_keys = new_keys(), alice = new_keys(), mallory = new_keys();
  auto config = curve_server(server_keys, 6);
  config.max_sessions_per_key = 3;
  Coordinator coord(dir, {"alice", "m1", "m2", "m3", "m4"}, 64 << 10, config);
  auto db = coord.reader(dir);
  REQUIRE(db->enroll_key(alice.public_key, "alice-phone", 1).ok());
  REQUIRE(db->enroll_key(mallory.public_key, "mallory-phone", 1).ok());
  const auto& server_public = server_keys.public_key;

  // alice's device claims its id (the first Hello binds it), is given its task, leaves.
  alice_joins_and_leaves(coord, alice, server_public, *db);
  // mallory's enrolled key says it is dev-alice, twice: refused, recorded once at once (the
  // second held for a summary), no task.
  RawClient m(coord.context(), coord.endpoint(), &mallory, server_public);
  for (int i = 0; i < 2; ++i) {
    m.send(hello("dev-alice", "toy/alice"));
    auto r = m.expect<proto::Reject>();
    CHECK(r.reason.find("agent id dev-alice belongs to another enrolled key") != std::string::npos);
  }
  CHECK(task_of(*db, "alice")->status == "pending");
  REQUIRE(wait_until([&] { return events_of(*db, "identity-refused").size() == 1; }));
  std::this_thread::sleep_for(200ms);
  CHECK(events_of(*db, "identity-refused").size() == 1);

  // One key, many ids: at most max_sessions_per_key sessions at once.
  std::vector<std::unique_ptr<RawClient>> sessions;
  int welcomed = 0, refused = 0;
  for (int i = 1; i <= 5; ++i) {
    sessions.push_back(
        std::make_unique<RawClient>(coord.context(), coord.endpoint(), &mallory, server_public));
    sessions.back()->send(hello("dev-m" + std::to_string(i), "toy/m" + std::to_string(i)));
    auto first = sessions.back()->receive();
    REQUIRE(first.has_value());
    if (std::holds_alternative<proto::Welcome>(*first)) ++welcomed;
    if (auto* e = std::get_if<proto::Error>(&*first)) {
      ++refused;
      CHECK(e->code == proto::ErrorCode::kLimitExceeded);
      CHECK(e->ref == "key-sessions");
    }
  }
  std::printf("[hostile] one key, 5 ids, max_sessions_per_key = 3: %d welcomed, %d refused\n",
              welcomed, refused);
  CHECK(welcomed == 3);
  CHECK(refused == 2);
  // alice's own key still gets its id back.
  RawClient back(coord.context(), coord.endpoint(), &alice, server_public);
  back.send(hello("dev-alice", "toy/alice"));
  back.expect<proto::Welcome>();
  CHECK(back.expect<proto::TaskAssignment>().individual == "alice");
  // mallory's second claim was held back, not forgotten: summarized when its window ends, or
  // at the stop (pairs said once each, in a bounded set, went silent once it was full).
  coord.stop();
  auto claims = events_of(*db, "identity-refused");
  REQUIRE(claims.size() == 2);
  const std::string summary =
      "1 refused claim(s) of agent id dev-alice by key " + mallory.public_key + " held back";
  auto summarized = std::find_if(claims.begin(), claims.end(), [&](const auto& e) {
    return e.detail.find(summary) != std::string::npos;
  });
  REQUIRE(summarized != claims.end());
  CHECK(summarized->agent_id == "dev-alice");
}

TEST_CASE(
    "an enrolled key binds a bounded number of ids and enrolls a bounded number of "
    "individuals",
    "[net][hostile]") {
  // Without these bounds one hostile device could grow the database for ever: a new agent id
  // (a row each) and new individuals (a task each in every open campaign) at every Hello.
  TempDir dir("hostile");
  const auto server_keys = new_keys(), alice = new_keys(), mallory = new_keys();
  auto config = curve_server(server_keys, 6);
  config.max_ids_per_key = 3;
  config.max_individuals_per_key = 2;
  Coordinator coord(dir, {}, 16 << 10, config);  // open enrollment
  auto db = coord.reader(dir);
  REQUIRE(db->enroll_key(alice.public_key, "alice-phone", 1).ok());
  REQUIRE(db->enroll_key(mallory.public_key, "mallory-phone", 1).ok());
  const auto& server_public = server_keys.public_key;
  auto tasks = [&] { return db->tasks(coord.campaign_id())->size(); };
  // Says Hello as `id` holding `holdings` and leaves; returns the first answer.
  auto visit = [&](const security::KeyPair& key, const std::string& id,
                   std::vector<std::string> holdings) {
    RawClient c(coord.context(), coord.endpoint(), &key, server_public);
    c.send(proto::Hello{id, proto::kProtocolVersion, {1, 0, std::move(holdings)}, 0, "i-" + id});
    auto first = c.receive();
    REQUIRE(first.has_value());
    c.send(proto::Goodbye{"bye"});
    return *first;
  };

  CHECK(std::holds_alternative<proto::Welcome>(visit(mallory, "m-1", {"toy/a", "toy/b", "toy/c"})));
  REQUIRE(wait_until([&] { return events_of(*db, "refused-enrollment").size() == 1; }));
  CHECK(tasks() == 2);  // a and b; not c
  CHECK_THAT(events_of(*db, "refused-enrollment")[0].detail,
             Catch::Contains("(server.max_individuals_per_key = 2): toy/c not enrolled"));
  CHECK(std::holds_alternative<proto::Welcome>(visit(mallory, "m-2", {"toy/a", "toy/d"})));
  CHECK(std::holds_alternative<proto::Welcome>(visit(mallory, "m-3", {})));
  auto fourth = visit(mallory, "m-4", {});
  REQUIRE(std::holds_alternative<proto::Reject>(fourth));
  CHECK_THAT(std::get<proto::Reject>(fourth).reason,
             Catch::Contains("has bound 3 agent id(s) already (server.max_ids_per_key = 3)"));
  CHECK(std::holds_alternative<proto::Welcome>(visit(mallory, "m-1", {"toy/a"})));  // its own
  // Another device's key has its own allowance.
  CHECK(std::holds_alternative<proto::Welcome>(visit(alice, "dev-alice", {"toy/alice"})));
  REQUIRE(wait_until([&] { return tasks() == 3; }));
  coord.stop();
  CHECK(coord.server().stats().enrollments_refused == 2);  // c, then d
  // The ids bound stay counted after a restart (they are in the database).
  coord.start();
  CHECK(std::holds_alternative<proto::Reject>(visit(mallory, "m-5", {})));
}

TEST_CASE("reports, statuses and reclaims are scoped to what the sender was assigned",
          "[net][hostile]") {
  TempDir dir("hostile");
  Coordinator coord(dir, {"victim", "attacker", "orphan"}, 16 << 10, fast_server(6));
  auto db = coord.reader(dir);

  RawClient victim(coord.context(), coord.endpoint());
  victim.send(hello("dev-victim", "toy/victim"));
  victim.expect<proto::Welcome>();
  const uint64_t vtask = victim.expect<proto::TaskAssignment>().task_id;
  RawClient attacker(coord.context(), coord.endpoint());
  attacker.send(hello("dev-attacker", "toy/attacker"));
  attacker.expect<proto::Welcome>();
  const uint64_t atask = attacker.expect<proto::TaskAssignment>().task_id;
  const std::string victim_key = "dev-victim:" + std::to_string(vtask) + ":0:fine_prune";

  // 1. A report for the victim's task: refused, nothing stored.
  attacker.send(report("forged-1", vtask, "fine_prune", 0.01));
  auto refused = attacker.expect<proto::Error>();
  CHECK(refused.code == proto::ErrorCode::kNotAllowed);
  CHECK(refused.ref == "forged-1");
  // 2. The victim's future idempotency key, on the attacker's own task: stored as the
  // attacker's row, and it does not pre-empt the victim's report.
  auto own = report(victim_key, atask, "fine_prune", 0.01);
  own.individual = "attacker";
  attacker.send(own);
  CHECK_FALSE(attacker.expect<proto::Ack>().duplicate);
  auto genuine = report(victim_key, vtask, "fine_prune", 0.8);
  genuine.individual = "victim";
  victim.send(genuine);
  auto ack = victim.expect<proto::Ack>();
  CHECK(ack.idempotency_key == victim_key);
  CHECK_FALSE(ack.duplicate);
  // 3. A status for the victim's task: not applied.
  attacker.send(proto::TaskStatus{"status-forged", vtask, true, 0, ""});
  auto not_taken = attacker.expect<proto::Error>();  // it was acknowledged as if taken
  CHECK(not_taken.code == proto::ErrorCode::kNotAllowed);
  CHECK(not_taken.ref == "status-forged");
  CHECK(not_taken.reason == "task " + std::to_string(vtask) +
                                " is not assigned to agent dev-attacker: status not taken");
  CHECK(task_of(*db, "victim")->status == "assigned");
  CHECK(task_of(*db, "victim")->agent_id == "dev-victim");
  // 4. A reclaim of a pending task the attacker was never given (currentTaskId).
  const int64_t otask = task_of(*db, "orphan")->id;
  RawClient hijack(coord.context(), coord.endpoint());
  hijack.send(hello("dev-hijack", "toy/nobody", static_cast<uint64_t>(otask)));
  hijack.expect<proto::Welcome>();
  hijack.send(proto::TaskStatus{"status-hijack", static_cast<uint64_t>(otask), true, 0, ""});
  CHECK(hijack.expect<proto::Error>().code == proto::ErrorCode::kNotAllowed);
  CHECK(task_of(*db, "orphan")->status == "pending");
  CHECK(task_of(*db, "orphan")->agent_id == "");
  CHECK(events_of(*db, "resume").empty());

  victim.send(proto::TaskStatus{"status-victim", vtask, true, 1, ""});
  victim.next<proto::Ack>();
  REQUIRE(wait_until([&] { return task_of(*db, "victim")->status == "done"; }));
  std::map<std::string, double> by_agent;
  int victim_rows = 0;
  for (const auto& r : rows(*db)) {
    if (r.task_id == static_cast<int64_t>(vtask)) {
      ++victim_rows;
      CHECK(r.agent_id == "dev-victim");
      CHECK(r.accuracy_after == std::optional<double>(0.8));
    }
  }
  CHECK(victim_rows == 1);
}

TEST_CASE(
    "a report naming another individual, or a method its campaign did not ask for, is "
    "refused",
    "[net][hostile]") {
  // Results are grouped by individual: such a report was stored and mixed into another
  // individual's results, or added a method row of its own.
  AliceJoined alice("hostile");
  RawClient& a = alice.peer;
  const uint64_t task = alice.task;
  const std::string t = "a report on task " + std::to_string(task);
  auto elsewhere = report("k1", task, "fine_prune", 0.99);
  elsewhere.individual = "bob";
  a.send(elsewhere);
  auto e = a.expect<proto::Error>();
  CHECK(e.code == proto::ErrorCode::kBadRequest);  // final: the agent drops it
  CHECK(e.ref == "k1");
  CHECK(e.reason == t + " names individual 'bob', not its task's 'alice': report not stored");
  for (const char* method : {"made-up", "svd"}) {
    INFO(method);
    a.send(report("k2", task, method, 0.99));
    e = a.expect<proto::Error>();
    CHECK(e.code == proto::ErrorCode::kBadRequest);
    CHECK(e.reason == t + " is of method '" + method +
                          "', which its campaign did not ask for (fine_prune, finetune): report "
                          "not stored");
  }
  a.send(report("k3", task, "fine_prune", 0.7));
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  auto stored = rows(*alice.db);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].individual == "alice");
  CHECK(events_of(*alice.db, "bad-report").size() == 3);
}

// Its agent dropped the refused report (a final error) and sent a status counting it: the
// status waited for it for ever (kInternal), and the agent resent the status for ever.
TEST_CASE("a status after a report refused for good fails the task", "[net][hostile]") {
  AliceJoined alice("hostile");
  RawClient& a = alice.peer;
  const uint64_t task = alice.task;
  a.send(report("k1", task, "fine_prune", 0.7));
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  a.send(report("k2", task, "made-up", 0.6));
  CHECK(a.expect<proto::Error>().code == proto::ErrorCode::kBadRequest);
  a.send(proto::TaskStatus{"s1", task, true, 2, ""});
  auto e = a.expect<proto::Error>();
  CHECK(e.code == proto::ErrorCode::kBadRequest);  // final: the agent drops its status
  CHECK(e.ref == "s1");
  const std::string why = "a report of it was refused (a report on task " + std::to_string(task) +
                          " is of method 'made-up', which its campaign did not ask for "
                          "(fine_prune, finetune))";
  CHECK(e.reason == "task " + std::to_string(task) + " failed: " + why);
  CHECK(task_of(*alice.db, "alice")->status == "failed");
  CHECK(task_of(*alice.db, "alice")->error == why);
  // A resent status of the failed task is acknowledged as stale.
  a.send(proto::TaskStatus{"s1", task, true, 2, ""});
  CHECK(a.expect<proto::Ack>().duplicate);
}

// The refusal belongs to the agent that sent the report: the task requeued from it and given
// to another device of the same individual finishes on that device's reports.
TEST_CASE("a report refused from an earlier holder does not fail the task's next holder",
          "[net][hostile]") {
  AliceJoined alice("hostile");
  const uint64_t task = alice.task;
  alice.peer.send(report("k1", task, "made-up", 0.6));
  CHECK(alice.peer.expect<proto::Error>().code == proto::ErrorCode::kBadRequest);
  alice.peer.send(proto::Goodbye{"bye"});
  REQUIRE(wait_until([&] { return task_of(*alice.db, "alice")->status == "pending"; }));
  RawClient next(alice.coord.context(), alice.coord.endpoint());
  REQUIRE(join(next, "dev-alice-2", "toy/alice") == task);
  auto r = report("k2", task, "fine_prune", 0.7);
  next.send(r);
  CHECK_FALSE(next.expect<proto::Ack>().duplicate);
  next.send(proto::TaskStatus{"s2", task, true, 1, ""});
  CHECK_FALSE(next.expect<proto::Ack>().duplicate);
  CHECK(task_of(*alice.db, "alice")->status == "done");
}

TEST_CASE("a task's status counts the reports stored; a failed task takes no more",
          "[net][hostile]") {
  AliceJoined alice("hostile");
  RawClient& a = alice.peer;
  auto& db = alice.db;
  const uint64_t task = alice.task;
  const std::string id = std::to_string(task);
  // Done with no report: refused for good (it closed the task, an empty row in the results).
  a.send(proto::TaskStatus{"s0", task, true, 0, ""});
  auto e = a.expect<proto::Error>();
  CHECK(e.code == proto::ErrorCode::kBadRequest);
  CHECK(e.reason == "task " + id + " finished with no report: status not taken");
  CHECK(task_of(*db, "alice")->status == "assigned");
  // Counting more than arrived: taken once the rest arrive (kInternal: the agent resends).
  a.send(report("k1", task, "fine_prune", 0.7));
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  a.send(proto::TaskStatus{"s1", task, true, 2, ""});
  e = a.expect<proto::Error>();
  CHECK(e.code == proto::ErrorCode::kInternal);
  CHECK(e.ref == "s1");
  CHECK(e.reason == "task " + id +
                        "'s status counts 2 report(s), 1 stored: status not taken until the rest "
                        "arrive");
  CHECK(task_of(*db, "alice")->status == "assigned");
  a.send(report("k2", task, "finetune", 0.6));
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  a.send(proto::TaskStatus{"s1", task, true, 2, ""});
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  CHECK(task_of(*db, "alice")->status == "done");

  // A task its agent said failed takes no report afterwards.
  TempDir dir("hostile");
  Coordinator coord(dir, {"carol"}, 16 << 10, fast_server(6));
  RawClient c(coord.context(), coord.endpoint());
  const uint64_t ctask = join(c, "dev-carol", "toy/carol");
  c.send(proto::TaskStatus{"f1", ctask, false, 0, "out of memory"});
  CHECK(c.expect<proto::Ack>().idempotency_key == "f1");
  auto late = report("k9", ctask, "fine_prune", 0.9);
  late.individual = "carol";
  c.send(late);
  e = c.expect<proto::Error>();
  CHECK(e.code == proto::ErrorCode::kNotAllowed);
  CHECK(e.ref == "k9");
  CHECK(coord.reader(dir)->telemetry_count().value() == 0);
}

TEST_CASE("a reply is sent only after the write it reports is committed", "[net][hostile]") {
  // The coordinator commits a burst of messages' writes together and holds the burst's
  // replies until then: whatever an agent is told, another connection already sees.
  const int n = 40;  // one row per (task, method): the campaign asks for 40 methods
  std::vector<std::string> methods;
  for (int i = 0; i < n; ++i) methods.push_back("method" + std::to_string(i));
  AliceJoined alice("committed", methods);
  RawClient& a = alice.peer;
  auto& db = alice.db;
  const uint64_t task = alice.task;
  auto assigned = task_of(*db, "alice");
  REQUIRE(assigned.has_value());
  CHECK(assigned->status == "assigned");
  CHECK(assigned->agent_id == "dev-alice");

  // Reports sent back to back arrive in one or a few bursts; each Ack finds its row.
  for (int i = 0; i < n; ++i)
    a.send(report("k" + std::to_string(i), task, "method" + std::to_string(i), 0.5));
  for (int acked = 1; acked <= n; ++acked) {
    auto ack = a.expect<proto::Ack>();
    CHECK_FALSE(ack.duplicate);
    auto stored = rows(*db);
    CHECK(std::any_of(stored.begin(), stored.end(), [&](const store::TelemetryRecord& r) {
      return r.idempotency_key == ack.idempotency_key;
    }));
  }
  a.send(proto::TaskStatus{"dev-alice:status", task, true, n, ""});
  CHECK(a.expect<proto::Ack>().idempotency_key == "dev-alice:status");
  CHECK(task_of(*db, "alice")->status == "done");
  // Bursts of reports alone were committed on the coordinator's commit worker, and the
  // Acks above still found their rows.
  alice.coord.stop();
  CHECK(alice.coord.server().stats().commits_in_background > 0);
  CHECK(alice.coord.server().stats().reports_stored == n);
}

TEST_CASE("a group commit holds a burst's replies until the messages of its delay commit",
          "[net][hostile]") {
  TempDir dir("group-commit");
  auto config = fast_server(6);
  config.heartbeat_ms = 10000;  // no tick in the test: its reads would make bursts of their own
  config.commit_delay_ms = 1000;
  Coordinator coord(dir, {"alice", "bob"}, 16 << 10, config);
  auto db = coord.reader(dir);
  RawClient a(coord.context(), coord.endpoint()), b(coord.context(), coord.endpoint());
  const auto sent = std::chrono::steady_clock::now();
  a.send(hello("dev-alice", "toy/alice"));
  std::this_thread::sleep_for(100ms);
  b.send(hello("dev-bob", "toy/bob"));
  a.expect<proto::Welcome>();
  // Not before the delay: alice's join waited for bob's, and they committed together.
  CHECK(std::chrono::steady_clock::now() - sent >= 1000ms);
  const uint64_t alice_task = a.expect<proto::TaskAssignment>().task_id;
  b.expect<proto::Welcome>();
  CHECK(b.expect<proto::TaskAssignment>().individual == "bob");
  CHECK(task_of(*db, "alice")->status == "assigned");
  CHECK(task_of(*db, "bob")->status == "assigned");
  // A burst still waiting when the coordinator stops is committed, not lost. (Reports alone
  // commit on the commit worker, at once.)
  a.send(report("k1", alice_task, "fine_prune", 0.5));
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  a.send(proto::TaskStatus{"dev-alice:status", alice_task, true, 1, ""});
  REQUIRE(wait_until([&] { return coord.server().frames_received() >= 4; }));
  coord.stop();
  CHECK(task_of(*db, "alice")->status == "done");
  CHECK(coord.server().stats().commits_on_loop == 2);  // both joins, then alice's end
}

TEST_CASE("reports on tasks read from the store still commit on the worker", "[net][hostile]") {
  // A resent outbox: reports on tasks the agent held before (not its current one), so each
  // task is read from the store. Those reads go through the coordinator's second,
  // read-only connection: through the shared one they opened the burst's transaction, and
  // every such burst committed on the loop's thread (none on the commit worker).
  AliceJoined alice("read-beside");
  const int n = 60;
  std::vector<std::pair<int64_t, std::string>> held;
  {
    auto campaign = task_of(*alice.db, "alice")->campaign_id;
    sql::Transaction tx(alice.db->db());
    REQUIRE(tx.begin_status().ok());
    for (int i = 0; i < n; ++i) {
      const std::string individual = "held" + std::to_string(i);
      auto task = alice.db->add_task(campaign, individual);
      REQUIRE(task.ok());
      REQUIRE(alice.db->assign_task(*task, "dev-alice", 1.0).ok());
      held.emplace_back(*task, individual);
    }
    REQUIRE(tx.commit().ok());
  }
  for (int i = 0; i < n; ++i) {
    auto r = report("h" + std::to_string(i), held[i].first, "fine_prune", 0.5);
    r.individual = held[i].second;
    alice.peer.send(r);
  }
  for (int acked = 0; acked < n; ++acked) CHECK_FALSE(alice.peer.expect<proto::Ack>().duplicate);
  // A report naming another task's individual is still refused, read the same way.
  auto wrong = report("w", held[0].first, "fine_prune", 0.5);
  wrong.individual = held[1].second;
  alice.peer.send(wrong);
  CHECK(alice.peer.expect<proto::Error>().code == proto::ErrorCode::kBadRequest);
  alice.coord.stop();
  CHECK(alice.coord.server().stats().reports_stored == n);
  CHECK(alice.coord.server().stats().commits_in_background > 0);
  CHECK(alice.db->telemetry_count().value() == n);
}

TEST_CASE("one row per (task, method): a second report of a method is a duplicate",
          "[net][hostile]") {
  AliceJoined alice("hostile");
  RawClient& a = alice.peer;
  auto& db = alice.db;
  const uint64_t task = alice.task;
  a.send(report("k1", task, "fine_prune", 0.7));
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  a.send(report("k2", task, "fine_prune", 0.9));
  CHECK(a.expect<proto::Ack>().duplicate);
  a.send(report("k3", task, "finetune", 0.6));
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  auto stored = rows(*db);
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].accuracy_after == std::optional<double>(0.7));
}

TEST_CASE("a database with two rows per (task, method) keeps the first and logs the rest",
          "[store][hostile]") {
  // Build an old database by hand: migrations 1-4 only.
  TempDir old("hostile");
  {
    auto db = sql::Database::open(old.file("v4.db"));
    REQUIRE(db.ok());
    for (int v = 0; v < 4; ++v) REQUIRE((*db)->exec(store::migrations()[v]).ok());
    REQUIRE((*db)->exec("PRAGMA user_version = 4").ok());
    REQUIRE((*db)
                ->exec("INSERT INTO models VALUES ('m', 1, '{}', '{}', 'p', 0);"
                       "INSERT INTO campaigns (id, name, model_sha256, dataset, prune_config_json,"
                       " created_at) VALUES (1, 'c', 'm', 'toy', '{}', 0);"
                       "INSERT INTO tasks (id, campaign_id, individual) VALUES (1, 1, 'a');")
                .ok());
    for (int i = 1; i <= 3; ++i) {
      std::string method = i == 3 ? "finetune" : "fine_prune";
      REQUIRE((*db)
                  ->exec("INSERT INTO telemetry (idempotency_key, task_id, campaign_id, agent_id,"
                         " method, individual, target_sparsity, sparsity, overall_sparsity,"
                         " layer_sparsity_json, curve_json, adaptation_samples, eval_samples,"
                         " wall_seconds, macs_dense, macs_effective, peak_memory_bytes,"
                         " received_at) VALUES ('k" +
                         std::to_string(i) + "', 1, 1, 'agent-" + std::to_string(i) + "', '" +
                         method + "', 'a', 0.5, 0.5, 0.5, '[]', '[]', 1, 1, 1, 1, 1, 1, " +
                         std::to_string(i) + ")")
                  .ok());
    }
  }
  auto migrated = store::Store::open(old.file("v4.db"));
  REQUIRE(migrated.ok());
  auto kept = rows(**migrated);
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].idempotency_key == "k1");
  CHECK(kept[0].agent_id == "agent-1");
  CHECK(kept[1].method == "finetune");
  auto logged = events_of(**migrated, "migration-duplicate");
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].task_id == 1);
  CHECK(logged[0].agent_id == "agent-2");
  CHECK(logged[0].detail.find("fine_prune") != std::string::npos);
}

TEST_CASE("text fields must be valid UTF-8 without control characters", "[net][hostile]") {
  AliceJoined alice("hostile");
  RawClient& a = alice.peer;
  auto& db = alice.db;
  const uint64_t task = alice.task;

  struct Case {
    std::string what;
    proto::Message message;
    std::string field;
  };
  auto bad_method = report("k1", task, "fine\xffprune", 0.5);
  auto bad_individual = report("k2", task, "fine_prune", 0.5);
  bad_individual.individual = "\x1b[2J\x1b[31mowned";
  auto bad_layer = report("k3", task, "fine_prune", 0.5);
  bad_layer.layers = {{"l\xc3", 1, 1, 1, 1}};
  std::vector<Case> cases = {
      {"invalid UTF-8 in a method", bad_method, "TelemetryReport.method"},
      {"terminal escapes in an individual", bad_individual, "TelemetryReport.individual"},
      {"a cut UTF-8 sequence in a layer name", bad_layer, "TelemetryReport.layers[].name"},
      {"a forged log line in an Error",
       proto::Error{proto::ErrorCode::kInternal, "x\n[error] coordinator compromised", ""},
       "Error.reason"},
      {"a NUL in a status reason", proto::TaskStatus{"s1", task, false, 0, std::string("a\0b", 3)},
       "TaskStatus.reason"},
      {"an overlong encoding in a Goodbye", proto::Goodbye{"\xc0\xaf"}, "Goodbye.reason"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    a.send(c.message);
    auto e = a.expect<proto::Error>();
    CHECK(e.code == proto::ErrorCode::kBadRequest);
    CHECK(e.reason.rfind(c.field + ":", 0) == 0);
  }
  // Valid UTF-8 passes.
  a.send(report("k4", task, "fine_prune", 0.5));
  auto ok = report("k5", task, "finetune", 0.5);
  ok.layers = {{"Zoë-ñ-日本", 1, 1, 1, 1}};
  a.send(ok);
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  CHECK(rows(*db).size() == 2);
  CHECK(events_of(*db, "agent-error").empty());
}

TEST_CASE("64-bit counters above 2^63 - 1 are refused, not stored negative", "[net][hostile]") {
  AliceJoined alice("hostile");
  RawClient& a = alice.peer;
  auto& db = alice.db;
  const uint64_t task = alice.task;
  auto big = report("k1", task, "fine_prune", 0.5);
  big.macs_dense = big.macs_effective = uint64_t{1} << 63;
  a.send(big);
  auto e = a.expect<proto::Error>();
  CHECK(e.code == proto::ErrorCode::kBadRequest);
  CHECK(e.reason.find("macsDense") != std::string::npos);
  CHECK(e.ref == "k1");  // named by its key: its agent drops it rather than resending it
  // The model's and the device's counters too (they were stored as -1).
  for (const char* field : {"compactParameters", "compactBytes", "modelBytes", "skippedFiles"}) {
    INFO(field);
    auto huge = report(std::string("k-") + field, task, "fine_prune", 0.5);
    const std::string name = field;
    (name == "compactParameters" ? huge.compact_parameters
     : name == "compactBytes"    ? huge.compact_bytes
     : name == "modelBytes"      ? huge.model_bytes
                                 : huge.skipped_files) = UINT64_MAX;
    a.send(huge);
    auto refused = a.expect<proto::Error>();
    CHECK(refused.code == proto::ErrorCode::kBadRequest);
    CHECK(refused.reason == "TelemetryReport." + name + ": exceeds 2^63 - 1");
  }
  auto fine = report("k2", task, "fine_prune", 0.5);
  fine.macs_dense = fine.macs_effective = (uint64_t{1} << 63) - 1;
  a.send(fine);
  CHECK_FALSE(a.expect<proto::Ack>().duplicate);
  auto stored = rows(*db);
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].macs_dense == INT64_MAX);
}

TEST_CASE("a peer that requests chunks and never reads them cannot grow the coordinator",
          "[net][hostile]") {
  TempDir dir("hostile");
  auto config = fast_server(6);
  config.stall_timeout_ms = 1000;
  Coordinator coord(dir, {"slow", "honest"}, 4 << 20, config);
  auto db = coord.reader(dir);
  RawClient slow(coord.context(), coord.endpoint(), nullptr, "", /*rcvhwm=*/1);
  slow.send(hello("dev-slow", "toy/slow"));
  const int requests = 1000;
  // 1000 requests of 64 KiB (62.5 MiB) and never a read; heartbeats keep it alive.
  for (int i = 0; i < requests; ++i) {
    slow.send(
        proto::ChunkRequest{coord.sha(), static_cast<uint64_t>(i % 64) * (64 << 10), 64 << 10});
  }
  // Then more, steadily, until the socket buffers between them are full too; heartbeats
  // keep it from looking silent.
  int more = 0;
  auto until = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < until) {
    slow.send(proto::Heartbeat{1});
    for (int i = 0; i < 10; ++i, ++more) {
      slow.send(proto::ChunkRequest{coord.sha(), static_cast<uint64_t>(more % 64) * (64 << 10),
                                    64 << 10});
    }
    std::this_thread::sleep_for(50ms);
  }
  // An honest agent downloading the same model meanwhile is served.
  FakeRunner runner;
  agent::AgentConfig ac;
  ac.agent_id = "dev-honest";
  ac.coordinator = coord.endpoint();
  ac.work_dir = dir.file("agent-honest");
  ac.datasets = {"toy/honest"};
  ac.security.plain = true;
  ac.max_tasks = 1;
  agent::Agent honest(ac, coord.context(), runner);
  Status ran = honest.run();
  INFO(ran.to_string());
  CHECK(ran.ok());
  CHECK(task_of(*db, "honest")->status == "done");
  coord.stop();
  const auto& stats = coord.server().stats();
  std::printf(
      "[hostile] non-reading peer sent %d chunk requests: %llu chunk(s) served to all peers, "
      "%llu request(s) refused, peak queued %llu bytes, %llu peer(s) dropped for not reading\n",
      requests + more, static_cast<unsigned long long>(stats.chunks_sent),
      static_cast<unsigned long long>(stats.chunk_requests_refused),
      static_cast<unsigned long long>(stats.chunk_bytes_queued_peak),
      static_cast<unsigned long long>(stats.peers_stalled));
  // Two peers' credit at most (the stuck one's and the honest one's), with each chunk
  // frame's envelope.
  CHECK(stats.chunk_bytes_queued_peak <=
        uint64_t{2} * config.chunk_credit * (config.chunk_size + 1024));
  CHECK(stats.chunk_requests_refused > 0);
  CHECK(stats.chunks_sent < static_cast<uint64_t>(requests + more) / 2);
  CHECK(stats.peers_stalled == 1);
}

TEST_CASE("refused handshakes are summarized, not one row and one line each", "[net][hostile]") {
  TempDir dir("hostile");
  const auto server_keys = new_keys();
  Coordinator coord(dir, {"alice"}, 1 << 10, curve_server(server_keys, 6));
  auto db = coord.reader(dir);
  const int attempts = 300;
  {
    std::vector<std::unique_ptr<RawClient>> peers;
    for (int i = 0; i < attempts; ++i) {
      auto keys = new_keys();
      peers.push_back(std::make_unique<RawClient>(coord.context(), coord.endpoint(), &keys,
                                                  server_keys.public_key, 0, /*reconnect=*/false));
    }
    REQUIRE(wait_until([&] { return coord.server().stats().handshakes_failed >= attempts; }));
  }
  coord.stop();
  auto refused = events_of(*db, "auth-refused");
  CHECK(refused.size() <= 3);
  int64_t counted = 0;
  for (const auto& e : refused) {
    // "N refused handshake(s) from ADDRESS: ..."; a row without a count is one attempt.
    auto at = e.detail.find(" refused handshake");
    counted += at == std::string::npos ? 1 : std::stoll(e.detail.substr(0, at));
  }
  std::printf("[hostile] %d handshakes with random keys: %zu event row(s) counting %lld\n",
              attempts, refused.size(), static_cast<long long>(counted));
  CHECK(counted == attempts);
}

TEST_CASE("a task held past its deadline by a heartbeating agent is requeued", "[net][hostile]") {
  TempDir dir("hostile");
  auto config = fast_server(6);
  config.task_deadline_s = 0.5;
  config.task_deadline_s_per_mb = 0;
  Coordinator coord(dir, {"alice"}, 16 << 10, config);
  auto db = coord.reader(dir);
  RawClient stuck(coord.context(), coord.endpoint());
  stuck.send(hello("dev-stuck", "toy/alice"));
  stuck.expect<proto::Welcome>();
  const uint64_t task = stuck.expect<proto::TaskAssignment>().task_id;
  auto assigned = std::chrono::steady_clock::now();
  bool requeued = false;
  while (!requeued && std::chrono::steady_clock::now() - assigned < 10s) {
    stuck.send(proto::Heartbeat{task});
    std::this_thread::sleep_for(50ms);
    requeued = !events_of(*db, "deadline").empty();
  }
  std::printf("[hostile] a stuck agent's task (deadline 0.5 s) requeued after %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - assigned).count());
  CHECK(requeued);
  // Its late report is refused: the task is no longer its own.
  stuck.send(report("late", task, "fine_prune", 0.5));
  CHECK(stuck.next<proto::Error>().has_value());
  CHECK(rows(*db).empty());
}

TEST_CASE("an agent with max_tasks leaves when the coordinator says goodbye after its last task",
          "[net][hostile]") {
  TempDir dir("hostile");
  auto config = fast_server(6);
  config.exit_when_done = true;
  Coordinator coord(dir, {"alice"}, 16 << 10, config);
  FakeRunner runner;
  agent::AgentConfig ac;
  ac.agent_id = "dev-alice";
  ac.coordinator = coord.endpoint();
  ac.work_dir = dir.file("agent-alice");
  ac.datasets = {"toy/alice"};
  ac.security.plain = true;
  ac.max_tasks = 1;
  ac.reconnect_min = 20ms;
  ac.reconnect_max = 100ms;
  ac.hello_timeout = 300ms;
  agent::Agent agent(ac, coord.context(), runner);
  std::atomic<bool> finished{false};
  std::thread t([&] {
    (void)agent.run();
    finished = true;
  });
  bool left = wait_until([&] { return finished.load(); }, 10s);
  agent.stop();
  t.join();
  CHECK(left);
  CHECK(agent.stats().tasks_done == 1);
  CHECK(agent.stats().connects == 1);
}

namespace {

// A TCP connection to 127.0.0.1:port that sends nothing (or one request).
// -1 when this process has no descriptor left.
int try_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int tcp_connect(uint16_t port) {
  int fd = try_connect(port);
  REQUIRE(fd >= 0);
  return fd;
}

// Sends `request` as it is and returns what came back ("" if the connection was closed).
std::string http_exchange(uint16_t port, const std::string& request) {
  int fd = tcp_connect(port);
  (void)!::write(fd, request.data(), request.size());
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return got;
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

// Sends one GET and returns the status line ("" if the connection was closed).
std::string http_get(uint16_t port) {
  return status_line(http_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
}

size_t open_descriptors() {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) n += !e.path().empty();
  return n;
}

}  // namespace

TEST_CASE("the dashboard keeps to its connection share and idle connections are closed",
          "[dashboard][hostile]") {
  dash::HttpServerConfig config;
  config.max_connections = 4;
  config.idle_timeout = 300ms;
  auto server = dash::HttpServer::start(config, [](const dash::HttpRequest&) {
    return dash::HttpReply{200, "text/plain", "ok", {}};
  });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) idle.push_back(tcp_connect(port));
  REQUIRE(wait_until([&] { return (*server)->stats().refused_over_limit >= 6; }, 5s));
  CHECK((*server)->stats().open <= 4);
  // Idle connections are closed after idle_timeout, and the dashboard serves again.
  REQUIRE(wait_until([&] { return (*server)->stats().open == 0; }, 5s));
  CHECK(http_get(port) == "HTTP/1.1 200 OK");
  for (int fd : idle) ::close(fd);
}

TEST_CASE("a request too large or malformed gets an HTTP error saying why, not a reset",
          "[dashboard][hostile]") {
  auto server = dash::HttpServer::start({}, [](const dash::HttpRequest&) {
    return dash::HttpReply{200, "text/plain", "ok", {}};
  });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();
  const std::string long_url =
      http_exchange(port, "GET /api/" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(status_line(long_url) == "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK_THAT(long_url, Catch::Contains("{\"error\":\"the request's header is over 8 KB"));
  const std::string big_body =
      http_exchange(port, "POST /api/summary HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n" +
                              std::string(40000, 'b'));
  CHECK(status_line(big_body) == "HTTP/1.1 413 Payload Too Large");
  CHECK_THAT(big_body, Catch::Contains("the request's body is over 16384 bytes"));
  const std::string garbage = http_exchange(port, "GARBAGE\r\n\r\n");
  CHECK(status_line(garbage) == "HTTP/1.1 400 Bad Request");
  CHECK_THAT(garbage, Catch::Contains("malformed HTTP request"));
  CHECK(http_get(port) == "HTTP/1.1 200 OK");  // and it serves on
}

TEST_CASE("out of descriptors, the dashboard backs off instead of spinning",
          "[dashboard][hostile]") {
  dash::HttpServerConfig config;
  config.max_connections = 100;
  auto server = dash::HttpServer::start(config, [](const dash::HttpRequest&) {
    return dash::HttpReply{200, "text/plain", "ok", {}};
  });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  // Connections waiting in the backlog, then no descriptor left to accept them with.
  rlimit tight = saved;
  tight.rlim_cur = open_descriptors() + 10;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  // Clients take descriptors until none is left; the last connections then wait in the
  // backlog and the server's accept fails (EMFILE).
  std::vector<int> waiting;
  for (int fd = try_connect(port); fd >= 0 && waiting.size() < 100; fd = try_connect(port)) {
    waiting.push_back(fd);
  }
  std::this_thread::sleep_for(1500ms);
  const uint64_t errors = (*server)->stats().accept_errors;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  for (int fd : waiting) ::close(fd);
  std::printf("[hostile] dashboard out of descriptors for 1.5 s: %llu accept error(s)\n",
              static_cast<unsigned long long>(errors));
  CHECK(errors >= 1);
  CHECK(errors <= 20);
  // Descriptors back: it serves again within the longest pause.
  std::string status;
  REQUIRE(wait_until(
      [&] {
        status = http_get(port);
        return status == "HTTP/1.1 200 OK";
      },
      5s));
}
