// What the coordinator does with misbehaving peers: wrong protocol versions,
// malformed, oversized and forbidden frames, and duplicate telemetry.
#include "agent/agent.h"
#include "fake_runner.h"
#include "net_fixture.h"
#include "protocol/sample_messages.h"
#include "store/sqlite.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;

namespace {

proto::Hello hello(const std::string& id, std::vector<std::string> sets = {"toy/alice"}) {
  return proto::Hello{id, proto::kProtocolVersion, {1, 256, std::move(sets)}, 0, "i-" + id};
}

proto::TelemetryReport report(const std::string& key, uint64_t task) {
  proto::TelemetryReport r = proto::sample_report(key, task, "fine_prune");
  r.individual = "alice";
  return r;
}

// Says Hello as `agent`, takes the Welcome and the task assigned, and returns a result
// for that task: three reports of alice's and the status.
proto::TaskResult result_for_assigned_task(const TempDir& dir, RawClient& client,
                                           const std::string& agent) {
  set_baselines(dir, {"finetune", "svd"});  // sample_result's methods
  client.send(hello(agent));
  client.expect<proto::Welcome>();
  auto task = client.expect<proto::TaskAssignment>();
  auto result = proto::sample_result(agent, task.task_id);
  for (auto& r : result.reports) r.individual = "alice";
  return result;
}

}  // namespace

TEST_CASE("an agent given something that is not an endpoint stops at once, saying so", "[net]") {
  TempDir dir;
  zmq::context_t context;
  FakeRunner runner;
  for (const std::string endpoint :
       {"not-an-endpoint", "tcp://127.0.0.1:port", "tcp://127.0.0.1:99999", "carrier://x:1"}) {
    INFO(endpoint);
    agent::AgentConfig config;
    config.agent_id = "typo-agent";
    config.coordinator = endpoint;
    config.work_dir = dir.file("agent");
    config.datasets = {"toy/alice"};
    config.security.plain = true;
    agent::Agent a(config, context, runner);
    const auto started = std::chrono::steady_clock::now();
    Status s = a.run();  // retried forever before
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Status::Code::kProtocol);
    CHECK(s.message().find("agent typo-agent cannot connect to " + endpoint + ": ") !=
          std::string::npos);
    CHECK(s.message().find("endpoints look like tcp://host:5555") != std::string::npos);
    CHECK(a.stats().connects == 0);
  }
}

TEST_CASE("a wrong protocol version is rejected with a reason", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
  RawClient client(coord.context(), coord.endpoint());
  client.send(proto::Hello{"old-agent", 99, {1, 0, {"toy/alice"}}, 0, ""});
  auto reject = client.expect<proto::Reject>();
  CHECK(reject.reason.find("protocol version 99 is not supported") != std::string::npos);
  CHECK(reject.reason.find("versions 2 to 3") != std::string::npos);
  CHECK(reject.supported_version == proto::kProtocolVersion);
  RawClient older(coord.context(), coord.endpoint());
  older.send(proto::Hello{"older-agent", proto::kMinProtocolVersion - 1, {1, 0, {}}, 0, ""});
  CHECK(older.expect<proto::Reject>().reason.find("protocol version 1 is not supported") !=
        std::string::npos);

  // The real agent gives up with the coordinator's reason instead of retrying.
  FakeRunner runner;
  agent::AgentConfig config;
  config.agent_id = "future-agent";
  config.coordinator = coord.endpoint();
  config.work_dir = dir.file("agent");
  config.datasets = {"toy/alice"};
  config.protocol_version = proto::kProtocolVersion + 1;
  config.security.plain = true;
  agent::Agent a(config, coord.context(), runner);
  Status s = a.run();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Status::Code::kProtocol);
  CHECK(s.message().find("protocol version " + std::to_string(proto::kProtocolVersion + 1) +
                         " is not supported") != std::string::npos);

  coord.stop();
  auto db = coord.reader(dir);
  auto events = db->events();
  REQUIRE(events.ok());
  int rejects = 0;
  for (const auto& e : *events) rejects += e.kind == "reject";
  CHECK(rejects == 3);
  CHECK(db->agents()->empty());  // never registered
}

TEST_CASE("malformed and forbidden frames get an Error and serving goes on", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
  RawClient client(coord.context(), coord.endpoint());
  auto expect_error = [&](proto::ErrorCode code, const std::string& words) {
    auto e = client.expect<proto::Error>();
    CHECK(e.code == code);
    INFO(e.reason);
    CHECK(e.reason.find(words) != std::string::npos);
  };

  client.send_bytes("not a frame!!");
  expect_error(proto::ErrorCode::kMalformed, "whole number of words");
  client.send_bytes(random_bytes(800, 3));
  auto e = client.expect<proto::Error>();
  CHECK((e.code == proto::ErrorCode::kMalformed || e.code == proto::ErrorCode::kBadRequest));
  client.send_bytes(std::string(100 << 10, '\0'));
  expect_error(proto::ErrorCode::kTooLarge, "exceeds the limit of 65536 bytes");
  client.send_multipart({proto::encode(hello("x")), "tail"});
  expect_error(proto::ErrorCode::kMalformed, "expected one frame per message, got 2");
  client.send(proto::Heartbeat{0});
  expect_error(proto::ErrorCode::kNotRegistered, "say Hello first");
  client.send(proto::Chunk{std::string(64, 'a'), 0, 4, "data"});
  expect_error(proto::ErrorCode::kNotAllowed, "Chunk is never accepted from an agent");
  client.send(proto::Hello{"bad id!", proto::kProtocolVersion, {}, 0, ""});
  expect_error(proto::ErrorCode::kBadRequest, "Hello.agentId");
  client.send(hello("ok-agent", {"no-slash"}));
  CHECK(client.expect<proto::Reject>().reason.find("dataset/individual") != std::string::npos);

  // The same connection, well-behaved now, is served normally.
  client.send(hello("ok-agent"));
  client.expect<proto::Welcome>();
  auto task = client.expect<proto::TaskAssignment>();
  auto r = report("k", task.task_id);
  r.sparsity = 7.0;
  client.send(r);
  expect_error(proto::ErrorCode::kBadRequest, "TelemetryReport.sparsity");
  client.send(proto::ChunkRequest{task.model_sha256, 0, 4096});
  auto chunk = client.expect<proto::Chunk>();
  CHECK(chunk.data.size() == 4096);
  CHECK(chunk.data == coord.model_bytes());
  // An offset that is not word aligned cannot be sent from the mapping: copied, same bytes.
  client.send(proto::ChunkRequest{task.model_sha256, 3, 100});
  CHECK(client.expect<proto::Chunk>().data == coord.model_bytes().substr(3, 100));
  client.send(proto::ChunkRequest{task.model_sha256, 4096, 10});
  expect_error(proto::ErrorCode::kBadRequest, "past the end");
  client.send(proto::ChunkRequest{std::string(64, 'f'), 0, 10});
  expect_error(proto::ErrorCode::kUnknownModel, "not registered");
  client.send(report("k2", 999));
  expect_error(proto::ErrorCode::kUnknownTask, "no task 999");
  coord.stop();
  CHECK(coord.server().stats().frames_rejected >= 8);
}

TEST_CASE("a duplicate telemetry report is acknowledged and stored once", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
  RawClient client(coord.context(), coord.endpoint());
  client.send(hello("dup-agent"));
  client.expect<proto::Welcome>();
  auto task = client.expect<proto::TaskAssignment>();

  client.send(report("dup-agent:1:fine_prune", task.task_id));
  auto first = client.expect<proto::Ack>();
  CHECK(first.idempotency_key == "dup-agent:1:fine_prune");
  CHECK_FALSE(first.duplicate);
  client.send(report("dup-agent:1:fine_prune", task.task_id));  // the Ack "was lost"
  auto second = client.expect<proto::Ack>();
  CHECK(second.idempotency_key == "dup-agent:1:fine_prune");
  CHECK(second.duplicate);

  client.send(proto::TaskStatus{"dup-agent:1:status", task.task_id, true, 1, ""});
  CHECK_FALSE(client.expect<proto::Ack>().duplicate);
  client.send(proto::TaskStatus{"dup-agent:1:status", task.task_id, true, 1, ""});
  CHECK(client.expect<proto::Ack>().duplicate);

  auto db = coord.reader(dir);
  CHECK(*db->telemetry_count() == 1);
  CHECK((*db->task(static_cast<int64_t>(task.task_id)))->status == "done");
  coord.stop();
  CHECK(coord.server().stats().reports_stored == 1);
  CHECK(coord.server().stats().reports_duplicate == 1);
}

TEST_CASE("a task's result is stored with its status and acknowledged once", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
  RawClient client(coord.context(), coord.endpoint());
  auto result = result_for_assigned_task(dir, client, "res-agent");
  const auto task_id = static_cast<int64_t>(result.status.task_id);

  client.send(result);
  auto ack = client.expect<proto::Ack>();  // the only answer: no Ack per report
  CHECK(ack.idempotency_key == result.status.idempotency_key);
  CHECK_FALSE(ack.duplicate);
  auto db = coord.reader(dir);
  CHECK(*db->telemetry_count() == 3);
  CHECK((*db->task(task_id))->status == "done");
  client.send(result);  // the Ack "was lost"
  CHECK(client.expect<proto::Ack>().duplicate);
  CHECK_FALSE(client.receive(300ms).has_value());  // and nothing more: no Ack per report
  CHECK(*db->telemetry_count() == 3);
  coord.stop();
  CHECK(coord.server().stats().task_results == 2);
  CHECK(coord.server().stats().reports_stored == 3);
  CHECK(coord.server().stats().reports_duplicate == 3);
}

TEST_CASE("a result with a report that cannot be stored leaves its task open until resent",
          "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
  RawClient client(coord.context(), coord.endpoint());
  auto result = result_for_assigned_task(dir, client, "part-agent");
  const auto task_id = static_cast<int64_t>(result.status.task_id);
  auto db = open_fixture_db(dir);
  REQUIRE(db->exec("CREATE TRIGGER refuse_svd BEFORE INSERT ON telemetry WHEN NEW.method = 'svd' "
                   "BEGIN SELECT RAISE(ABORT, 'svd refused by the test'); END")
              .ok());

  client.send(result);
  auto e = client.expect<proto::Error>();
  CHECK(e.code == proto::ErrorCode::kInternal);  // the agent keeps the result and resends
  CHECK(e.ref == result.status.idempotency_key);
  INFO(e.reason);
  CHECK(e.reason.find("1 of the task's 3 report(s) not stored") != std::string::npos);
  CHECK(e.reason.find("svd refused by the test") != std::string::npos);
  auto reader = coord.reader(dir);
  CHECK(*reader->telemetry_count() == 2);
  CHECK((*reader->task(task_id))->status == "assigned");

  REQUIRE(db->exec("DROP TRIGGER refuse_svd").ok());
  client.send(result);
  auto ack = client.expect<proto::Ack>();
  CHECK(ack.idempotency_key == result.status.idempotency_key);
  CHECK_FALSE(ack.duplicate);
  CHECK(*reader->telemetry_count() == 3);
  CHECK((*reader->task(task_id))->status == "done");
  coord.stop();
  CHECK(coord.server().stats().reports_failed == 1);
  CHECK(coord.server().stats().reports_stored == 3);
  CHECK(coord.server().stats().reports_duplicate == 2);
}

TEST_CASE("reports written in a burst whose commit fails are neither acknowledged nor counted",
          "[net]") {
  // A burst with other writes commits them and its reports together; their Acks must wait
  // for that commit. Here the commit fails at COMMIT (a deferred foreign key, as a full
  // disk fails when the log is written), after every statement succeeded.
  TempDir dir;
  Coordinator coord(dir, {"alice", "bob"}, 4096, fast_server(50));
  set_baselines(dir, {"finetune", "svd"});  // sample_result's methods
  RawClient alice(coord.context(), coord.endpoint());
  alice.send(hello("dev-alice"));
  alice.expect<proto::Welcome>();
  const uint64_t task = alice.expect<proto::TaskAssignment>().task_id;
  auto db = open_fixture_db(dir);
  REQUIRE(db->exec("CREATE TABLE sabotage (task INTEGER REFERENCES tasks (id) DEFERRABLE "
                   "INITIALLY DEFERRED); CREATE TRIGGER sabotage_assignment AFTER UPDATE OF "
                   "status ON tasks WHEN NEW.status = 'assigned' BEGIN INSERT INTO sabotage "
                   "VALUES (-1); END")
              .ok());
  // Holding the write lock stalls the coordinator in Bob's assignment, so that Alice's
  // report, sent meanwhile, is read in the same burst and written after it.
  REQUIRE(db->exec("BEGIN IMMEDIATE").ok());
  RawClient bob(coord.context(), coord.endpoint());
  bob.send(hello("dev-bob", {"toy/bob"}));
  std::this_thread::sleep_for(300ms);
  SECTION("a report") { alice.send(report("alice:1:fine_prune", task)); }
  SECTION("a task's result: its reports and status") {
    auto result = proto::sample_result("dev-alice", task);
    for (auto& r : result.reports) r.individual = "alice";
    alice.send(result);
  }
  std::this_thread::sleep_for(300ms);
  REQUIRE(db->exec("ROLLBACK").ok());

  coord.join();  // the failed commit is fatal
  INFO(coord.run_status().to_string());
  CHECK(coord.run_status().message().find("FOREIGN KEY") != std::string::npos);
  CHECK_FALSE(alice.next<proto::Ack>(500ms).has_value());
  CHECK_FALSE(bob.next<proto::TaskAssignment>(100ms).has_value());
  auto reader = coord.reader(dir);
  CHECK(*reader->telemetry_count() == 0);
  CHECK((*reader->task(static_cast<int64_t>(task)))->status == "assigned");
  CHECK(coord.server().stats().reports_stored == 0);  // nor counted as stored
}

TEST_CASE("a coordinator write that fails stops the coordinator, naming it", "[net]") {
  // Such writes were ignored: a campaign whose "done" was refused stayed running for ever,
  // and an exit-when-done coordinator with it.
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
  RawClient client(coord.context(), coord.endpoint());
  auto result = result_for_assigned_task(dir, client, "done-agent");
  auto db = open_fixture_db(dir);
  REQUIRE(db->exec("CREATE TRIGGER refuse_done BEFORE UPDATE OF status ON campaigns WHEN "
                   "NEW.status = 'done' BEGIN SELECT RAISE(ABORT, 'done refused by the test'); "
                   "END")
              .ok());
  client.send(result);
  coord.join();
  INFO(coord.run_status().to_string());
  CHECK(coord.run_status().message().find("writing a campaign's status: ") != std::string::npos);
  CHECK(coord.run_status().message().find("done refused by the test") != std::string::npos);
  // Restarted once the write can succeed, it finishes the campaign whose last task ended.
  REQUIRE(db->exec("DROP TRIGGER refuse_done").ok());
  auto reader = coord.reader(dir);
  CHECK((*reader->campaign(coord.campaign_id()))->status == "running");
  coord.start();
  CHECK(wait_until([&] { return (*reader->campaign(coord.campaign_id()))->status == "done"; }));
}

TEST_CASE("a coordinator binds tcp://localhost as this machine's loopback", "[net]") {
  TempDir dir;
  auto config = fast_server(20);
  config.endpoint = "tcp://localhost:*";  // libzmq took "localhost" for a network interface
  Coordinator coord(dir, {"alice"}, 4096, config);
  CHECK_THAT(coord.endpoint(), Catch::StartsWith("tcp://127.0.0.1:"));
  RawClient client(coord.context(), coord.endpoint());
  client.send(hello("local-agent"));
  client.expect<proto::Welcome>();
  // Another host name is still refused, and the refusal says what a bind takes.
  auto store = store::Store::open(dir.file("other.db"));
  REQUIRE(store.ok());
  coord::ModelRegistry registry(dir.file("other-models"), **store);
  config.endpoint = "tcp://no-such-interface0:5555";
  config.security.plain = true;  // as the fixture serves
  coord::Server server(config, coord.context(), **store, registry);
  Status bound = server.bind();
  CHECK_THAT(bound.message(), Catch::Contains("not a host name"));
}

TEST_CASE("a burst of reports is committed in batches and all acknowledged", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
  RawClient client(coord.context(), coord.endpoint());
  std::vector<std::string> methods;
  for (int i = 0; i < 1500; ++i) methods.push_back("m" + std::to_string(i));
  set_baselines(dir, methods);
  client.send(hello("burst"));
  client.expect<proto::Welcome>();
  auto task = client.expect<proto::TaskAssignment>();
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    // 1500 distinct reports (one row per (task, method): each its own method), 500 resent.
    auto r = report("burst-" + std::to_string(i % 1500), task.task_id);
    r.method = "m" + std::to_string(i % 1500);
    client.send(r);
  }
  int acks = 0, dups = 0;
  while (acks < n) {
    auto m = client.receive(5s);
    REQUIRE(m.has_value());
    if (auto* ack = std::get_if<proto::Ack>(&*m)) {
      ++acks;
      dups += ack->duplicate;
    }
  }
  CHECK(dups == 500);
  CHECK(*coord.reader(dir)->telemetry_count() == 1500);
}

TEST_CASE("an assignment the agent never got is sent again", "[net]") {
  TempDir dir;
  auto config = fast_server(20);
  config.heartbeat_ms = 200;  // resent after 400 ms of claimed idleness
  Coordinator coord(dir, {"alice"}, 4096, config);
  RawClient client(coord.context(), coord.endpoint());
  const auto hello_sent = std::chrono::steady_clock::now();  // the assignment comes later
  client.send(hello("forgetful"));
  client.expect<proto::Welcome>();
  auto first = client.expect<proto::TaskAssignment>();
  // Pretend it was lost: claim to be idle (a heartbeat naming no task every 50 ms) until
  // the assignment comes again, which must not happen before two heartbeat intervals.
  std::optional<proto::TaskAssignment> again;
  const auto deadline = hello_sent + 20s;
  while (!again && std::chrono::steady_clock::now() < deadline) {
    client.send(proto::Heartbeat{0});
    auto m = client.receive(50ms);
    if (m) {
      REQUIRE(std::holds_alternative<proto::TaskAssignment>(*m));
      again = std::get<proto::TaskAssignment>(*m);
    }
  }
  REQUIRE(again.has_value());
  CHECK(std::chrono::steady_clock::now() - hello_sent >= 400ms);
  CHECK(again->task_id == first.task_id);
  CHECK(again->model_sha256 == first.model_sha256);
  // Got it now: heartbeats naming the task, for longer than the resend interval, get
  // nothing more.
  for (int i = 0; i < 12; ++i) {
    client.send(proto::Heartbeat{again->task_id});
    CHECK_FALSE(client.receive(50ms).has_value());
  }
}

TEST_CASE("a task claimed in a Hello and then let go goes back to the queue at once", "[net]") {
  TempDir dir;
  auto config = fast_server(20);
  config.heartbeat_ms = 200;
  Coordinator coord(dir, {"alice"}, 4096, config);
  uint64_t task = 0;
  {
    RawClient first(coord.context(), coord.endpoint());
    first.send(hello("holder"));
    first.expect<proto::Welcome>();
    task = first.expect<proto::TaskAssignment>().task_id;
  }
  // The agent starts again and claims the task (its outbox holds the result): kept, and
  // nothing is sent while its heartbeats name it...
  RawClient client(coord.context(), coord.endpoint());
  proto::Hello claim = hello("holder");
  claim.current_task_id = task;
  client.send(claim);
  client.expect<proto::Welcome>();
  for (int i = 0; i < 12; ++i) {
    client.send(proto::Heartbeat{task});
    CHECK_FALSE(client.receive(50ms).has_value());
  }
  // ... until it lets go of it (that result was dropped): given out again after two
  // heartbeat intervals, not at its deadline.
  std::optional<proto::TaskAssignment> again;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!again && std::chrono::steady_clock::now() < deadline) {
    client.send(proto::Heartbeat{0});
    if (auto m = client.receive(50ms)) {
      REQUIRE(std::holds_alternative<proto::TaskAssignment>(*m));
      again = std::get<proto::TaskAssignment>(*m);
    }
  }
  REQUIRE(again.has_value());
  CHECK(again->task_id == task);
}

TEST_CASE("an assignment a restart kept from its agent costs no attempt; another agent's does",
          "[net]") {
  for (const std::string taker : {"holder", "someone-else"}) {
    INFO(taker);
    TempDir dir;
    Coordinator coord(dir, {"alice"}, 4096, fast_server(20));
    coord.stop();
    {
      // What a coordinator killed between committing an assignment and sending it leaves:
      // the task assigned to "holder" in the file, one attempt counted, nothing sent.
      auto db = coord.reader(dir);
      auto tasks = db->tasks(coord.campaign_id());
      REQUIRE(tasks->size() == 1);
      REQUIRE(db->assign_task(tasks->front().id, "holder", 1.0).ok());
    }
    coord.start();
    RawClient client(coord.context(), coord.endpoint());
    client.send(hello(taker));  // claims no task: it never got one
    client.expect<proto::Welcome>();
    auto a = client.expect<proto::TaskAssignment>();
    auto db = coord.reader(dir);
    REQUIRE(wait_until(
        [&] { return (*db->task(static_cast<int64_t>(a.task_id)))->status == "assigned"; }));
    const auto task = *db->task(static_cast<int64_t>(a.task_id));
    CHECK(task->agent_id == taker);
    CHECK(task->attempts == (taker == "holder" ? 1 : 2));
  }
}

TEST_CASE("a second live agent with the same id is turned away; a reconnect is not", "[net]") {
  TempDir dir;
  auto config = fast_server(20);
  config.heartbeat_ms = 200;
  config.liveness = 3;
  Coordinator coord(dir, {"alice"}, 4096, config);
  RawClient first(coord.context(), coord.endpoint());
  first.send(proto::Hello{"twin", proto::kProtocolVersion, {1, 0, {"toy/alice"}}, 0, "instance-1"});
  first.expect<proto::Welcome>();
  auto task = first.expect<proto::TaskAssignment>();

  RawClient second(coord.context(), coord.endpoint());
  second.send(
      proto::Hello{"twin", proto::kProtocolVersion, {1, 0, {"toy/alice"}}, 0, "instance-2"});
  auto refused = second.expect<proto::Error>();
  CHECK(refused.code == proto::ErrorCode::kNotAllowed);
  CHECK(refused.ref == proto::kAgentIdInUse);
  CHECK(refused.reason ==
        "agent id twin is in use by another running agent (two devices given one id, or a work "
        "folder copied with its agent.id? each device needs its own)");
  // The first keeps its session: a report from it is accepted.
  first.send(report("twin:1:fine_prune", task.task_id));
  CHECK_FALSE(first.expect<proto::Ack>().duplicate);

  // The same instance on a new connection (a reconnect) takes over, keeping its task.
  RawClient again(coord.context(), coord.endpoint());
  again.send(proto::Hello{
      "twin", proto::kProtocolVersion, {1, 0, {"toy/alice"}}, task.task_id, "instance-1"});
  again.expect<proto::Welcome>();
  const auto last_word = std::chrono::steady_clock::now();  // the holder's last message
  again.send(proto::TaskStatus{"twin:1:status", task.task_id, true, 1, ""});
  CHECK_FALSE(again.expect<proto::Ack>().duplicate);

  // Once the holder of an id goes silent (liveness x heartbeat = 600 ms), another
  // instance may take the id: it asks until welcomed, and is refused until then.
  std::optional<std::chrono::steady_clock::time_point> welcomed;
  while (!welcomed && std::chrono::steady_clock::now() < last_word + 20s) {
    RawClient later(coord.context(), coord.endpoint());
    later.send(proto::Hello{"twin", proto::kProtocolVersion, {1, 0, {}}, 0, "instance-3"});
    auto m = later.receive(5s);
    REQUIRE(m.has_value());
    if (std::holds_alternative<proto::Welcome>(*m)) {
      welcomed = std::chrono::steady_clock::now();
    } else {
      REQUIRE(std::holds_alternative<proto::Error>(*m));
      CHECK(std::get<proto::Error>(*m).ref == proto::kAgentIdInUse);
      std::this_thread::sleep_for(50ms);  // the next try (polling, not synchronisation)
    }
  }
  REQUIRE(welcomed.has_value());
  CHECK(*welcomed - last_word >= 600ms);  // not while the holder could still be alive
}

TEST_CASE("a model file truncated while mapped is refused, not read past its end", "[net]") {
  TempDir dir;
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  coord::ModelRegistry registry(dir.file("models"), **store);
  auto model = registry.add(std::string(10000, 'm'), "{}", "{}", 1.0);
  REQUIRE(model.ok());
  auto first = registry.map(model->sha256);
  REQUIRE(first.ok());
  auto again = registry.map(model->sha256);
  REQUIRE(again.ok());
  CHECK(again->get() == first->get());  // mapped once, shared
  std::filesystem::resize_file(model->path, 100);
  auto truncated = registry.map(model->sha256);
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.status().code() == Status::Code::kCorruption);
  CHECK_THAT(truncated.status().message(), Catch::Contains("has 100 bytes"));
}
