// Security and limits over loopback TCP, in one process: CURVE with enrolled keys (and
// what is refused: unenrolled and revoked keys, plain peers), encryption on the wire,
// the agent ceiling, the per-agent rate limit, and differential-privacy noise from the
// device into SQLite.
#include <cstdio>
#include <set>

#include "agent/agent.h"
#include "agent/report_privacy.h"
#include "fake_runner.h"
#include "net_fixture.h"
#include "security/keys.h"
#include "tcp_tap.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;

namespace {

agent::AgentConfig agent_config(const std::string& id, const std::string& endpoint,
                                const TempDir& dir, const std::string& individual) {
  agent::AgentConfig c;
  c.agent_id = id;
  c.coordinator = endpoint;
  c.work_dir = dir.file("agent-" + id);
  c.datasets = {"toy/" + individual};
  c.hello_timeout = 1000ms;
  c.reconnect_min = 20ms;
  c.reconnect_max = 200ms;
  c.resend_after = 300ms;
  c.security.plain = true;
  return c;
}

agent::AgentConfig curve_agent(const std::string& id, const std::string& endpoint,
                               const TempDir& dir, const std::string& individual,
                               const security::KeyPair& own, const std::string& server_public) {
  auto c = agent_config(id, endpoint, dir, individual);
  c.security = {false, own, server_public};
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Runs an agent on its own thread until destroyed; `finished` once run() returned.
struct AgentThread {
  std::unique_ptr<agent::Agent> agent;
  std::thread thread;
  Status result;
  std::atomic<bool> finished{false};
  AgentThread(agent::AgentConfig config, zmq::context_t& context, agent::TaskRunner& runner)
      : agent(std::make_unique<agent::Agent>(std::move(config), context, runner)) {
    thread = std::thread([this] {
      result = agent->run();
      finished = true;
    });
  }
  ~AgentThread() {
    agent->stop();
    thread.join();
  }
};

bool task_done(store::Store& db, const std::string& individual) {
  auto t = task_of(db, individual);
  return t && t->status == "done";
}

int count_events(store::Store& s, const std::string& kind) {
  int n = 0;
  auto events = s.events(100000);
  REQUIRE(events.ok());
  for (const auto& e : *events) n += e.kind == kind;
  return n;
}

}  // namespace

TEST_CASE("an enrolled CURVE agent works while a valid but unenrolled key is refused",
          "[net][security]") {
  TempDir dir("sec");
  const auto server_keys = new_keys(), alice_keys = new_keys(), mallory_keys = new_keys();
  Coordinator coord(dir, {"alice", "mallory"}, 300 << 10, curve_server(server_keys));
  auto db = coord.reader(dir);
  REQUIRE(db->enroll_key(alice_keys.public_key, "alice-phone", 1).ok());

  FakeRunner runner;
  auto started = std::chrono::steady_clock::now();
  AgentThread alice(
      curve_agent("dev-alice", coord.endpoint(), dir, "alice", alice_keys, server_keys.public_key),
      coord.context(), runner);
  AgentThread mallory(curve_agent("dev-mallory", coord.endpoint(), dir, "mallory", mallory_keys,
                                  server_keys.public_key),
                      coord.context(), runner);
  REQUIRE(wait_until([&] { return task_done(*db, "alice"); }));
  REQUIRE(wait_until([&] { return mallory.finished.load(); }, 10s));
  std::printf("[security] unenrolled key refused, agent stopped within %.3f s\n",
              seconds_since(started));
  INFO(mallory.result.to_string());
  CHECK(mallory.result.code() == Status::Code::kProtocol);
  CHECK(mallory.result.message().find("refused this agent's CURVE key (ZAP 400)") !=
        std::string::npos);
  CHECK(mallory.agent->stats().connects == 1);  // gave up: retrying cannot help
  CHECK(task_of(*db, "mallory")->status == "pending");
  CHECK(task_of(*db, "mallory")->attempts == 0);
  auto rows = db->telemetry(coord.campaign_id());
  REQUIRE(rows.ok());
  std::set<std::string> senders;
  for (const auto& r : *rows) senders.insert(r.agent_id);
  CHECK(senders == std::set<std::string>{"dev-alice"});
  // The refusal is logged with the key.
  REQUIRE(wait_until([&] { return count_events(*db, "auth-refused") >= 1; }));
  auto events = db->events();
  REQUIRE(events.ok());
  bool named = false;
  for (const auto& e : *events) {
    named |=
        e.kind == "auth-refused" && e.detail.find(mallory_keys.public_key) != std::string::npos;
  }
  CHECK(named);
  CHECK_FALSE(alice.finished.load());
}

TEST_CASE("plain and CURVE peers refuse each other with a clear reason", "[net][security]") {
  TempDir dir("sec");
  const auto server_keys = new_keys(), agent_keys = new_keys();
  FakeRunner runner;
  {
    Coordinator curve(dir, {"alice"}, 1 << 10, curve_server(server_keys));
    agent::Agent plain_agent(agent_config("plain", curve.endpoint(), dir, "alice"), curve.context(),
                             runner);
    Status s = plain_agent.run();
    CHECK(s.code() == Status::Code::kProtocol);
    CHECK(s.message().find("security mismatch") != std::string::npos);
    // A plain agent watches its handshake from its second connection on (the first went
    // unwelcomed); a CURVE agent, below, from its first.
    CHECK(plain_agent.stats().connects == 2);
    // A hand-made plain client gets nothing at all: no Welcome, no Error.
    RawClient raw(curve.context(), curve.endpoint());
    raw.send(proto::Hello{"raw", proto::kProtocolVersion, {1, 0, {"toy/alice"}}, 0, "i"});
    CHECK_FALSE(raw.receive(500ms).has_value());
    curve.stop();
    CHECK(curve.server().stats().frames_in == 0);
    CHECK(curve.server().stats().handshakes_failed >= 1);
  }
  {
    TempDir dir2("sec");
    Coordinator plain(dir2, {"alice"}, 1 << 10, fast_server());
    agent::Agent curve_agent_(
        curve_agent("curvy", plain.endpoint(), dir2, "alice", agent_keys, server_keys.public_key),
        plain.context(), runner);
    Status s = curve_agent_.run();
    CHECK(s.code() == Status::Code::kProtocol);
    CHECK(s.message().find("security mismatch") != std::string::npos);
    CHECK(curve_agent_.stats().connects == 1);
  }
  CHECK(runner.runs == 0);
}

TEST_CASE("revoking a key drops its agent at once and refuses it afterwards", "[net][security]") {
  TempDir dir("sec");
  const auto server_keys = new_keys(), keys = new_keys();
  Coordinator coord(dir, {"alice"}, 64 << 10, curve_server(server_keys));
  auto db = coord.reader(dir);
  REQUIRE(db->enroll_key(keys.public_key, "alice-phone", 1).ok());
  FakeRunner runner;
  runner.close_gate();  // hold the task in progress
  {
    AgentThread alice(
        curve_agent("dev-alice", coord.endpoint(), dir, "alice", keys, server_keys.public_key),
        coord.context(), runner);
    REQUIRE(wait_until([&] { return runner.running(); }));
    CHECK(task_of(*db, "alice")->status == "assigned");
    // Ticks with nothing changed in the store read no key again (a look at alice's key as
    // she joined, one read of them all at the first tick).
    std::this_thread::sleep_for(600ms);
    REQUIRE(*db->revoke_key("alice-phone", 2) == 1);
    auto revoked = std::chrono::steady_clock::now();
    REQUIRE(wait_until([&] { return alice.finished.load(); }, 5s));
    std::printf(
        "[security] revoked agent dropped and stopped %.3f s after revoke (heartbeat 50 ms)\n",
        seconds_since(revoked));
    CHECK(alice.result.code() == Status::Code::kProtocol);
    CHECK(alice.result.message().find("was revoked") != std::string::npos);
    runner.open_gate();
  }
  CHECK(wait_until([&] { return task_of(*db, "alice")->status == "pending"; }));
  CHECK(count_events(*db, "revoked") == 1);
  // The same key cannot come back: the handshake itself is refused.
  agent::Agent again(
      curve_agent("dev-alice", coord.endpoint(), dir, "alice", keys, server_keys.public_key),
      coord.context(), runner);
  Status s = again.run();
  CHECK(s.message().find("refused this agent's CURVE key") != std::string::npos);
  CHECK(db->telemetry_count().value() == 0);
  // Every key was read at alice's first tick and after the revocation: not every tick.
  coord.stop();
  const auto& stats = coord.server().stats();
  CHECK(stats.ticks >= 10);
  CHECK(stats.enrolled_key_reads >= 2);
  CHECK(stats.enrolled_key_reads <= 4);
}

TEST_CASE("with CURVE neither the model nor the agent's messages are readable on the wire",
          "[net][security]") {
  TempDir dir("sec");
  const auto server_keys = new_keys(), keys = new_keys();
  Coordinator coord(dir, {"alice"}, 200 << 10, curve_server(server_keys));
  auto db = coord.reader(dir);
  REQUIRE(db->enroll_key(keys.public_key, "alice", 1).ok());
  TcpTap tap(std::stoi(coord.endpoint().substr(coord.endpoint().rfind(':') + 1)));
  FakeRunner runner;
  {
    AgentThread alice(curve_agent("dev-alice", "tcp://127.0.0.1:" + std::to_string(tap.port()), dir,
                                  "alice", keys, server_keys.public_key),
                      coord.context(), runner);
    REQUIRE(wait_until([&] { return task_done(*db, "alice"); }));
  }
  CHECK(runner.model_hashes() == std::set<std::string>{coord.sha()});
  std::string up, down;
  for (const auto& s : tap.upstream()) up += s;
  for (const auto& s : tap.downstream()) down += s;
  CHECK(down.size() > coord.model_bytes().size());  // the model did travel ...
  for (size_t at : {size_t{0}, size_t{100000}, size_t{150000}}) {
    CHECK(down.find(coord.model_bytes().substr(at, 32)) == std::string::npos);  // ... encrypted
  }
  CHECK(up.find("dev-alice") == std::string::npos);
  CHECK(up.find("fineprune") == std::string::npos);
  CHECK(up.find("toy/alice") == std::string::npos);
}

TEST_CASE("beyond max_agents a newcomer is refused with the reason and the others keep working",
          "[net][limits]") {
  TempDir dir("sec");
  auto config = fast_server();
  config.max_agents = 2;
  Coordinator coord(dir, {"alice", "bob"}, 64 << 10, config);
  auto db = coord.reader(dir);
  FakeRunner runner;

  RawClient hog(coord.context(), coord.endpoint());
  hog.send(proto::Hello{"hog", proto::kProtocolVersion, {1, 0, {"toy/nobody"}}, 0, "h"});
  hog.expect<proto::Welcome>();
  AgentThread alice(agent_config("dev-alice", coord.endpoint(), dir, "alice"), coord.context(),
                    runner);
  REQUIRE(wait_until([&] { return task_done(*db, "alice"); }));

  RawClient extra(coord.context(), coord.endpoint());
  extra.send(proto::Hello{"extra", proto::kProtocolVersion, {1, 0, {"toy/nobody"}}, 0, "e"});
  auto refused = extra.expect<proto::Error>();
  CHECK(refused.code == proto::ErrorCode::kLimitExceeded);
  CHECK(refused.ref == proto::kCoordinatorFull);
  CHECK(refused.reason ==
        "coordinator is full: 2 agents connected (server.max_agents = 2); try again later");

  // A real agent that finds it full keeps retrying and gets in once a place frees up.
  AgentThread bob(agent_config("dev-bob", coord.endpoint(), dir, "bob"), coord.context(), runner);
  REQUIRE(wait_until([&] { return bob.agent->stats().connects >= 3; }));
  // The event row is written with the coordinator's next batch: wait for it, then check
  // it is one row for all the refusals (recorded once per 10 s, not per retry).
  REQUIRE(wait_until([&] { return count_events(*db, "refused-full") >= 1; }));
  CHECK(count_events(*db, "refused-full") == 1);
  CHECK(task_of(*db, "bob")->status == "pending");
  CHECK(alice.agent->stats().connects == 1);  // undisturbed
  const int64_t refusals = bob.agent->stats().connects;
  hog.send(proto::Goodbye{"making room"});
  auto freed = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return task_done(*db, "bob"); }));
  std::printf(
      "[limits] max_agents=2: %lld refusal(s) while full; the waiting agent finished its task %.3f "
      "s after a place freed\n",
      static_cast<long long>(refusals), seconds_since(freed));
  // The agent counts the task once the coordinator acknowledged its status, which can
  // come a moment after the row is stored.
  CHECK(wait_until([&] { return bob.agent->stats().tasks_done == 1; }));
  CHECK_FALSE(bob.finished.load());
}

TEST_CASE("a flooding agent loses its excess messages, told once, and others are undisturbed",
          "[net][limits]") {
  TempDir dir("sec");
  auto config = fast_server();
  config.rate_limit = 100;
  config.rate_burst = 200;
  Coordinator coord(dir, {"alice"}, 300 << 10, config);
  auto db = coord.reader(dir);

  RawClient flood(coord.context(), coord.endpoint());
  flood.send(proto::Hello{"flood", proto::kProtocolVersion, {1, 0, {"toy/nobody"}}, 0, "f"});
  flood.expect<proto::Welcome>();
  FakeRunner runner;
  AgentThread alice(agent_config("dev-alice", coord.endpoint(), dir, "alice"), coord.context(),
                    runner);
  const int sent = 3000;
  for (int i = 0; i < sent; ++i) flood.send(proto::Heartbeat{0});
  REQUIRE(wait_until([&] { return task_done(*db, "alice"); }));

  // Exactly one explanation for the whole burst.
  int told = 0;
  auto until = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < until) {
    auto m = flood.receive(100ms);
    if (!m) continue;
    if (auto* e = std::get_if<proto::Error>(&*m)) {
      ++told;
      CHECK(e->code == proto::ErrorCode::kLimitExceeded);
      CHECK(e->ref == proto::kRateLimited);
      CHECK(e->reason ==
            "rate limit: more than 100 messages/s (burst 200) from this agent; excess messages "
            "are dropped");
    }
  }
  CHECK(told == 1);
  CHECK(alice.agent->stats().tasks_done == 1);
  CHECK(alice.agent->stats().connects == 1);
  CHECK(alice.agent->stats().download_restarts == 0);
  coord.stop();
  const auto& stats = coord.server().stats();
  std::printf(
      "[limits] flood of %d frames at rate 100/s burst 200: %llu dropped, %d explanation(s); "
      "the other agent: %lld task(s), %lld connect(s), %lld download restart(s)\n",
      sent, static_cast<unsigned long long>(stats.frames_rate_limited), told,
      static_cast<long long>(alice.agent->stats().tasks_done),
      static_cast<long long>(alice.agent->stats().connects),
      static_cast<long long>(alice.agent->stats().download_restarts));
  CHECK(stats.frames_rate_limited >= static_cast<uint64_t>(sent) - 400);
  CHECK(stats.frames_rate_limited <= static_cast<uint64_t>(sent));
}

TEST_CASE("privacy noise is added on the device and stored with its epsilon", "[net][privacy]") {
  TempDir dir("sec");
  Coordinator coord(dir, {}, 64 << 10, fast_server());  // open enrollment: tasks on Hello
  auto db = coord.reader(dir);
  const std::string json =
      R"({"target_sparsity":0.5,"privacy":{"mechanism":"laplace","epsilon":2.0}})";
  REQUIRE(db->db().exec("UPDATE campaigns SET prune_config_json = '" + json + "'").ok());
  FakeRunner runner;
  auto config = agent_config("dev-alice", coord.endpoint(), dir, "alice");
  config.privacy_seed = 1234;
  {
    AgentThread alice(config, coord.context(), runner);
    REQUIRE(wait_until([&] { return alice.agent->stats().reports_acked == 2; }));
  }
  auto rows = db->telemetry(coord.campaign_id());
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);  // fine_prune and the finetune baseline
  for (size_t i = 0; i < rows->size(); ++i) {
    const auto& r = (*rows)[i];
    INFO(r.method);
    CHECK(r.dp_mechanism == "laplace");
    CHECK(r.dp_epsilon == std::optional<double>(2.0));
    CHECK_FALSE(r.dp_delta.has_value());
    // Exactly the noise the device draws for this seed, task and report.
    proto::TelemetryReport expected;
    expected.evaluated = true;
    expected.accuracy_before = 0.5;
    expected.accuracy_after = 0.75;
    expected.eval_samples = 20;
    agent::add_privacy_noise(expected, *security::make_privacy_config("laplace", 2.0, 0, "t"),
                             agent::report_seed(1234, static_cast<uint64_t>(r.task_id), i));
    CHECK(r.accuracy_after == std::optional<double>(expected.accuracy_after));
    CHECK(r.accuracy_before == std::optional<double>(expected.accuracy_before));
    CHECK(*r.accuracy_after != 0.75);
  }
}

TEST_CASE("a wrong coordinator key never completes the handshake and the agent retries",
          "[net][security]") {
  TempDir dir("sec");
  const auto server_keys = new_keys(), keys = new_keys(), impostor = new_keys();
  Coordinator coord(dir, {"alice"}, 1 << 10, curve_server(server_keys));
  REQUIRE(coord.reader(dir)->enroll_key(keys.public_key, "alice", 1).ok());
  FakeRunner runner;
  auto config = curve_agent("dev-alice", coord.endpoint(), dir, "alice", keys, impostor.public_key);
  config.hello_timeout = 300ms;
  AgentThread alice(config, coord.context(), runner);
  REQUIRE(wait_until([&] { return alice.agent->stats().connects >= 3; }, 10s));
  CHECK_FALSE(alice.finished.load());  // not a definitive refusal: it keeps trying
  coord.stop();
  CHECK(coord.server().stats().frames_in == 0);
  CHECK(coord.server().stats().handshakes_failed >= 1);
}

TEST_CASE("oversized frames and chunk requests are refused with the reason", "[net][limits]") {
  TempDir dir("sec");
  Coordinator coord(dir, {"alice"}, 1 << 10, fast_server());
  RawClient client(coord.context(), coord.endpoint());
  client.send(proto::Hello{"raw", proto::kProtocolVersion, {1, 0, {"toy/alice"}}, 0, "r"});
  client.expect<proto::Welcome>();
  client.expect<proto::TaskAssignment>();
  client.send(proto::ChunkRequest{coord.sha(), 0, proto::kMaxChunkBytes + 1});
  auto chunk = client.expect<proto::Error>();
  CHECK(chunk.code == proto::ErrorCode::kBadRequest);
  CHECK(chunk.reason == "ChunkRequest.length: must be in [1, 1048576]");
  client.send_bytes(std::string(proto::kMaxAgentFrameBytes + 8, '\0'));
  auto frame = client.expect<proto::Error>();
  CHECK(frame.code == proto::ErrorCode::kTooLarge);
  CHECK(frame.reason.find(std::to_string(proto::kMaxAgentFrameBytes)) != std::string::npos);
  // The session survives both: a valid request is served.
  client.send(proto::ChunkRequest{coord.sha(), 0, 1024});
  CHECK(client.expect<proto::Chunk>().data == coord.model_bytes());
}
