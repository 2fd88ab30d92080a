// The coordinator and device agents end to end over loopback TCP, in one process,
// with a fake task runner: campaign completion, liveness and requeue, resumed and
// corrupted downloads, and reconnecting after a coordinator restart.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "agent/agent.h"
#include "coordinator/commit_worker.h"
#include "fake_runner.h"
#include "file_size_limit.h"
#include "net_fixture.h"
#include "protocol/endpoint.h"
#include "util/sha256.h"
#include "util/task_thread.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;

namespace {

agent::AgentConfig agent_config(const std::string& id, const std::string& endpoint,
                                const TempDir& dir, std::vector<std::string> datasets) {
  agent::AgentConfig c;
  c.agent_id = id;
  c.coordinator = endpoint;
  c.work_dir = dir.file("agent-" + id);
  c.datasets = std::move(datasets);
  c.hello_timeout = 1000ms;
  c.reconnect_min = 20ms;
  c.reconnect_max = 200ms;
  c.resend_after = 300ms;
  c.security.plain = true;  // the fixture's coordinator is plain
  return c;
}

// Runs an agent on its own thread until destroyed.
struct AgentThread {
  std::unique_ptr<agent::Agent> agent;
  std::thread thread;
  Status result;
  std::atomic<bool> ended{false};  // run() returned
  AgentThread(agent::AgentConfig config, zmq::context_t& context, agent::TaskRunner& runner,
              TaskThread* task_thread = nullptr)
      : agent(std::make_unique<agent::Agent>(std::move(config), context, runner)) {
    if (task_thread) agent->share_task_thread(task_thread);
    thread = std::thread([this] {
      result = agent->run();
      ended = true;
    });
  }
  ~AgentThread() {
    agent->stop();
    thread.join();
  }
};

bool campaign_done(Coordinator& c, const TempDir& dir) {
  auto campaign = c.reader(dir)->campaign(c.campaign_id());
  return campaign.ok() && campaign->has_value() && (*campaign)->status == "done";
}

// Stored events of `kind` (of agent `agent`, when given).
int count_events(store::Store& s, const std::string& kind, const std::string& agent = "") {
  int n = 0;
  auto events = s.events(100000);
  REQUIRE(events.ok());
  for (const auto& e : *events) n += e.kind == kind && (agent.empty() || e.agent_id == agent);
  return n;
}

// The campaign's `n` tasks are done, each by its own individual's agent at its first attempt.
void check_done_once_each(store::Store& db, int64_t campaign, size_t n) {
  auto tasks = db.tasks(campaign);
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == n);
  for (const auto& t : *tasks) {
    CHECK(t.status == "done");
    CHECK(t.agent_id == "dev-" + t.individual);
    CHECK(t.attempts == 1);
  }
}

// A coordinator driven by hand (a bare ROUTER): what an agent does with given messages.
struct RawCoordinator {
  explicit RawCoordinator(zmq::context_t& context) : router(context, zmq::socket_type::router) {
    proto::configure_router(router);
    router.bind("tcp://127.0.0.1:*");
    endpoint = router.get(zmq::sockopt::last_endpoint);
  }
  // Waits for an agent's Hello (kept in `hello`); its connection is then the one sent to.
  void await_hello() {
    proto::PeerFrame frame;
    REQUIRE(wait_until([&] {
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(10));
      if (!proto::recv_from_router(router, frame, false)) return false;
      auto m =
          proto::decode(frame.payload.data(), frame.payload.size(), proto::kMaxAgentFrameBytes);
      if (!m.ok() || !std::holds_alternative<proto::Hello>(*m)) return false;
      hello = std::get<proto::Hello>(*m);
      return true;
    }));
    peer = frame.peer;
  }
  void send(const proto::Message& m) {
    REQUIRE(proto::send_to_peer(router, peer, proto::encode(m)).ok());
  }
  // What the agent sends within `wait`, in order.
  std::vector<proto::Message> read_for(std::chrono::milliseconds wait) {
    std::vector<proto::Message> out;
    auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(5));
      proto::PeerFrame f;
      while (proto::recv_from_router(router, f, false)) {
        auto m = proto::decode(f.payload.data(), f.payload.size(), proto::kMaxAgentFrameBytes);
        REQUIRE(m.ok());
        out.push_back(std::move(m).value());
      }
    }
    return out;
  }
  zmq::socket_t router;
  std::string endpoint, peer;
  proto::Hello hello;
};

// Agent "dev-bob" (holding toy/bob; `tune` adjusts its config) against a RawCoordinator,
// once it has said Hello.
struct BobAgainstRaw {
  explicit BobAgainstRaw(const std::function<void(agent::AgentConfig&)>& tune = {},
                         bool gate_open = true) {
    if (!gate_open) runner.close_gate();
    config = agent_config("dev-bob", coord.endpoint, dir, {"toy/bob"});
    if (tune) tune(config);
    bob = std::make_unique<AgentThread>(config, context, runner);
    coord.await_hello();
  }
  TempDir dir;
  zmq::context_t context{1};
  RawCoordinator coord{context};
  FakeRunner runner;
  agent::AgentConfig config;         // bob's, to start it again
  std::unique_ptr<AgentThread> bob;  // last: stopped first
};

template <typename T>
int count_of(const std::vector<proto::Message>& messages) {
  return static_cast<int>(std::count_if(messages.begin(), messages.end(), [](const auto& m) {
    return std::holds_alternative<T>(m);
  }));
}

}  // namespace

TEST_CASE("three agents complete a campaign and telemetry lands in SQLite", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice", "bob", "carol"}, 700 << 10, fast_server());
  FakeRunner runner;
  {
    std::vector<std::unique_ptr<AgentThread>> agents;
    for (std::string name : {"alice", "bob", "carol"}) {
      auto config = agent_config("dev-" + name, coord.endpoint(), dir, {"toy/" + name});
      // Carol's agent is of the previous protocol: reports one by one, then the status.
      if (name == "carol") config.protocol_version = proto::kMinProtocolVersion;
      // Bob's keeps its download in memory, as a simulated device does.
      if (name == "bob") config.downloads_in_memory = true;
      agents.push_back(std::make_unique<AgentThread>(config, coord.context(), runner));
    }
    REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
    // The last Ack reaches an agent just after the coordinator records the task.
    REQUIRE(wait_until([&] {
      for (auto& a : agents)
        if (a->agent->stats().tasks_done != 1) return false;
      return true;
    }));
    for (auto& a : agents) {
      auto stats = a->agent->stats();
      CHECK(stats.tasks_done == 1);
      CHECK(stats.bytes_downloaded == 700 << 10);
      CHECK(stats.chunks_received == 11);  // ceil(700 KiB / 64 KiB)
      CHECK(stats.reports_acked == 2);
    }
  }
  CHECK(runner.runs == 3);
  CHECK(runner.model_hashes() == std::set<std::string>{coord.sha()});
  CHECK(runner.in_memory_models == 1);
  for (std::string name : {"alice", "carol"}) {
    auto copy = read_file(dir.file("agent-dev-" + name + "/models/" + coord.sha() + ".fpm"));
    CHECK(copy == coord.model_bytes());
  }
  CHECK_FALSE(fs::exists(dir.file("agent-dev-bob")));

  auto db = coord.reader(dir);
  // Agents said Goodbye when stopped; the coordinator logs it as it reads it.
  CHECK(wait_until([&] { return count_events(*db, "leave") == 3; }));
  auto rows = db->telemetry(coord.campaign_id());
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 6);
  std::map<std::string, std::set<std::string>> methods;
  for (const auto& r : *rows) {
    CHECK(r.agent_id == "dev-" + r.individual);
    methods[r.individual].insert(r.method);
    if (r.method == "fine_prune") {
      CHECK(r.sparsity == Approx(0.25 + 0.01 * r.individual.size()));
      CHECK(r.accuracy_after == 0.75);
      auto curve = nlohmann::json::parse(r.curve_json);
      REQUIRE(curve.size() == 2);
      CHECK(curve[1]["target"] == 0.5);
      auto layers = nlohmann::json::parse(r.layer_sparsity_json);
      REQUIRE(layers.size() == 2);
      CHECK(layers[0]["active_units"] == 4);
    }
  }
  for (std::string name : {"alice", "bob", "carol"}) {
    CHECK(methods[name] == std::set<std::string>{"fine_prune", "finetune"});
  }
  check_done_once_each(*db, coord.campaign_id(), 3);
  CHECK(count_events(*db, "join") == 3);
  CHECK(count_events(*db, "task-done") == 3);
  CHECK(count_events(*db, "campaign-done") == 1);
  coord.stop();
  CHECK(coord.server().stats().task_results == 2);  // alice's and bob's, not carol's
  CHECK(coord.server().stats().reports_stored == 6);
  // Nothing kept of the ended tasks (a days-long coordinator kept every task it served).
  CHECK(coord.server().stats().tasks_cached == 0);
}

TEST_CASE("reports too large for one frame together are sent one by one", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 4096, fast_server());
  FakeRunner runner;
  runner.extra_layers = 200;
  {
    AgentThread a(agent_config("dev-alice", coord.endpoint(), dir, {"toy/alice"}), coord.context(),
                  runner);
    REQUIRE(wait_until([&] { return a.agent->stats().tasks_done == 1; }));
    CHECK(a.agent->stats().reports_acked == 2);
  }
  auto db = coord.reader(dir);
  check_done_once_each(*db, coord.campaign_id(), 1);
  auto rows = db->telemetry(coord.campaign_id());
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK(nlohmann::json::parse((*rows)[0].layer_sparsity_json).size() == 202);
  coord.stop();
  CHECK(coord.server().stats().task_results == 0);
  CHECK(coord.server().stats().reports_stored == 2);
}

TEST_CASE("a silent agent's task is requeued and finished by another", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 100 << 10, fast_server());
  RawClient ghost(coord.context(), coord.endpoint());
  ghost.send(proto::Hello{"ghost", proto::kProtocolVersion, {1, 0, {"toy/alice"}}, 0, "ghost-1"});
  ghost.expect<proto::Welcome>();
  auto task = ghost.expect<proto::TaskAssignment>();
  CHECK(task.individual == "alice");
  CHECK(task.model_sha256 == coord.sha());
  // The ghost says nothing more. After liveness x heartbeat the task is free again.
  FakeRunner runner;
  {
    AgentThread helper(agent_config("helper", coord.endpoint(), dir, {"toy/alice"}),
                       coord.context(), runner);
    REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
  }
  auto db = coord.reader(dir);
  auto t = db->task(static_cast<int64_t>(task.task_id));
  REQUIRE(t->has_value());
  CHECK((*t)->agent_id == "helper");
  CHECK((*t)->attempts == 2);
  bool ghost_failed = false, requeued = false;
  auto events = db->events();
  REQUIRE(events.ok());
  for (const auto& e : *events) {
    ghost_failed |= e.kind == "failure" && e.agent_id == "ghost" &&
                    e.detail.find("silent") != std::string::npos;
    requeued |= e.kind == "requeue" && e.task_id == static_cast<int64_t>(task.task_id);
  }
  CHECK(ghost_failed);
  CHECK(requeued);
  coord.stop();  // stats are read on the loop's thread only while it runs
  CHECK(coord.server().stats().tasks_requeued == 1);
}

TEST_CASE("a corrupted model file on the coordinator is never used", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 200 << 10, fast_server());
  {
    // Damage the artifact in place: same size, different bytes.
    std::fstream f(dir.file("models/" + coord.sha() + ".fpm"),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100000);
    f.put('X');
    f.put('Y');
  }
  FakeRunner runner;
  auto config = agent_config("a1", coord.endpoint(), dir, {"toy/alice"});
  config.max_download_restarts = 1;
  config.downloads_in_memory = GENERATE(false, true);
  {
    AgentThread a(config, coord.context(), runner);
    REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
    REQUIRE(wait_until([&] { return a.agent->stats().tasks_failed == 1; }));
    CHECK(a.agent->stats().download_restarts == 2);
  }
  CHECK(runner.runs == 0);
  auto t = coord.reader(dir)->tasks(coord.campaign_id());
  REQUIRE(t->size() == 1);
  CHECK((*t)[0].status == "failed");
  CHECK((*t)[0].error.find("failed verification") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.file("agent-a1/models/" + coord.sha() + ".fpm")));
}

namespace {

// An agent of one task (a device leaving after its tasks) runs against `coord`: it ends, its
// one task counted failed, and told so (on_task_closed).
void check_one_task_failed(Coordinator& coord, const TempDir& dir, FakeRunner& runner) {
  auto config = agent_config("a1", coord.endpoint(), dir, {"toy/alice"});
  config.max_tasks = 1;
  std::atomic<int64_t> told{0};
  config.on_task_closed = [&](int64_t ended) { told = ended; };
  AgentThread a(config, coord.context(), runner);
  REQUIRE(wait_until([&] { return a.ended.load(); }, 10s));
  CHECK(a.result.ok());
  CHECK(a.agent->stats().tasks_failed == 1);
  CHECK(a.agent->stats().tasks_done == 0);
  CHECK(told == 1);
}

}  // namespace

TEST_CASE("a task failed before it reaches its agent ends that agent's count of tasks", "[net]") {
  // Its model file gone, the coordinator fails the task instead of assigning it. The agent
  // it was for is told: one that leaves after its tasks (a simulated device) used to wait for
  // it for ever, holding its host's connection slot.
  TempDir dir;
  auto server = fast_server();
  // Failed once the file has been gone this long (at once: 0, as in fp-sim's runs).
  server.model_wait_s = GENERATE(0.0, 0.3);
  Coordinator coord(dir, {"alice"}, 20 << 10, server);
  REQUIRE(fs::remove(dir.file("models/" + coord.sha() + ".fpm")));
  FakeRunner runner;
  check_one_task_failed(coord, dir, runner);
  CHECK(runner.runs == 0);
  auto t = coord.reader(dir)->tasks(coord.campaign_id());
  REQUIRE(t->size() == 1);
  CHECK((*t)[0].status == "failed");
  CHECK((*t)[0].error.rfind("model unavailable: model file ", 0) == 0);
  CHECK(campaign_done(coord, dir));
}

// A result holding a report the coordinator refuses for good (a method its campaign did not
// ask for: fp-bench model_fanout's "fanout", an agent of another version): its status waited
// for that report for ever (kInternal), and the agent resent the result every 2 s for ever.
TEST_CASE("a task whose result holds a refused report fails, and its agent goes on", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 20 << 10, fast_server());
  FakeRunner runner;
  runner.method = "made-up";
  check_one_task_failed(coord, dir, runner);
  CHECK(runner.runs == 1);
  auto db = coord.reader(dir);
  auto t = db->tasks(coord.campaign_id());
  REQUIRE(t->size() == 1);
  CHECK((*t)[0].status == "failed");
  CHECK_THAT((*t)[0].error, Catch::StartsWith("a report of it was refused (a report on task " +
                                              std::to_string((*t)[0].id) +
                                              " is of method 'made-up', which its "
                                              "campaign did not ask for"));
  CHECK(db->telemetry()->empty());  // a result is one unit: its other reports are not kept
  CHECK(campaign_done(coord, dir));
}

TEST_CASE("a campaign's tasks wait while its model file is away, then run", "[net]") {
  // A disk remounted, a model file being restored: the task stays pending and its agent
  // idle (server.model_wait_s), instead of failing for good at the first look.
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 20 << 10, fast_server());
  const std::string file = dir.file("models/" + coord.sha() + ".fpm");
  fs::rename(file, file + ".away");
  FakeRunner runner;
  auto config = agent_config("a1", coord.endpoint(), dir, {"toy/alice"});
  config.max_tasks = 1;
  AgentThread a(config, coord.context(), runner);
  std::this_thread::sleep_for(1s);  // 20 heartbeats: each looks for the file again
  CHECK_FALSE(a.ended.load());
  CHECK(runner.runs == 0);
  auto waiting = coord.reader(dir)->tasks(coord.campaign_id());
  REQUIRE(waiting->size() == 1);
  CHECK((*waiting)[0].status == "pending");
  CHECK((*waiting)[0].attempts == 0);
  fs::rename(file + ".away", file);
  REQUIRE(wait_until([&] { return a.ended.load(); }, 10s));
  CHECK(a.result.ok());
  CHECK(a.agent->stats().tasks_done == 1);
  CHECK(runner.runs == 1);
  CHECK(campaign_done(coord, dir));
  auto events = coord.reader(dir)->events(100);
  REQUIRE(events.ok());
  std::string said;
  for (const auto& e : *events)
    if (e.kind == "model") said += e.detail + "\n";
  CHECK_THAT(said, Catch::Contains("model " + coord.sha().substr(0, 12) + ": model file ") &&
                       Catch::Contains(" usable again"));
}

TEST_CASE("while one campaign's model file is away, another campaign's task goes out", "[net]") {
  // Alice's device holds data for two campaigns; the first one's model is away. The policy
  // offered only the first pending task: the device idled until that file came back.
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 20 << 10, fast_server());
  coord.stop();
  coord::ModelRegistry models(dir.file("models"), coord.store());
  auto other = models.add(random_bytes(10 << 10, 8), "{\"arch\":\"toy\"}", "{}", 2.0);
  REQUIRE(other.ok());
  store::CampaignRecord second;
  second.name = "second";
  second.model_sha256 = other->sha256;
  second.dataset = "toy";
  second.prune_config_json = "{}";
  auto second_id = coord.store().create_campaign(second);
  REQUIRE(second_id.ok());
  REQUIRE(coord.store().add_task(*second_id, "alice").ok());
  const std::string file = dir.file("models/" + coord.sha() + ".fpm");
  fs::rename(file, file + ".away");
  coord.start();
  FakeRunner runner;
  auto config = agent_config("a1", coord.endpoint(), dir, {"toy/alice"});
  config.max_tasks = 1;
  AgentThread a(config, coord.context(), runner);
  REQUIRE(wait_until([&] { return a.ended.load(); }, 10s));
  CHECK(a.agent->stats().tasks_done == 1);
  auto db = coord.reader(dir);
  CHECK((*db->tasks(*second_id))[0].status == "done");
  const auto waiting = *db->tasks(coord.campaign_id());
  CHECK(waiting[0].status == "pending");  // still waiting for its file
  CHECK(waiting[0].attempts == 0);
}

TEST_CASE("an online agent's last_seen follows its heartbeats", "[net]") {
  // Written at its join and then every server.last_seen_every_s: status and the dashboard
  // showed an agent online for hours as last seen when it joined.
  TempDir dir;
  auto server = fast_server();
  server.last_seen_every_s = 0.2;
  Coordinator coord(dir, {"alice"}, 20 << 10, server);
  FakeRunner runner;
  AgentThread a(agent_config("idle", coord.endpoint(), dir, {"toy/zed"}), coord.context(), runner);
  auto seen = [&]() -> std::pair<double, double> {
    auto agents = coord.reader(dir)->agents();
    if (!agents.ok()) return {0, 0};
    for (const auto& r : *agents)
      if (r.agent_id == "idle" && r.status == "online") return {r.first_seen, r.last_seen};
    return {0, 0};
  };
  REQUIRE(wait_until([&] { return seen().first > 0; }, 10s));
  REQUIRE(wait_until([&] { return seen().second - seen().first >= 0.6; }, 10s));
  const auto [first, last] = seen();
  CHECK(last <= first + 10);
}

TEST_CASE("an agent that leaves when done is told when no task is left on its data", "[net]") {
  // A simulated device counts the tasks it has to do; after its host was killed between a
  // task's end and the host's journal line, the count is one too many. The coordinator,
  // asked in the Hello, tells it that nothing is left once it has been idle for a whole
  // heartbeat interval; it used to wait in its host's connection slot for ever.
  TempDir dir;
  Coordinator coord(dir, {"alice", "bob"}, 20 << 10, fast_server());
  FakeRunner alice_runner, bob_runner;
  bob_runner.close_gate();
  auto alice = agent_config("dev-alice", coord.endpoint(), dir, {"toy/alice"});
  alice.max_tasks = 2;  // one too many
  alice.leave_when_done = true;
  AgentThread a(alice, coord.context(), alice_runner);
  // Bob's task is held by another agent: a second agent on bob's data is not told while
  // it runs, nor is one that did not ask.
  AgentThread b1(agent_config("dev-bob", coord.endpoint(), dir, {"toy/bob"}), coord.context(),
                 bob_runner);
  REQUIRE(wait_until([&] { return bob_runner.running(); }));
  auto second = agent_config("dev-bob-2", coord.endpoint(), dir, {"toy/bob"});
  second.max_tasks = 1;
  second.leave_when_done = true;
  AgentThread b2(second, coord.context(), bob_runner);
  AgentThread quiet(agent_config("dev-quiet", coord.endpoint(), dir, {"toy/alice"}),
                    coord.context(), alice_runner);
  // Nor one whose data no campaign ever had a task for (a host started with another
  // scenario's individuals): it waits, in view, rather than leave as if it had finished.
  auto stranger = agent_config("dev-carol", coord.endpoint(), dir, {"toy/carol"});
  stranger.max_tasks = 1;
  stranger.leave_when_done = true;
  AgentThread carol(stranger, coord.context(), alice_runner);

  REQUIRE(wait_until([&] { return a.ended.load(); }, 10s));
  CHECK(a.result.ok());
  CHECK(a.agent->stats().tasks_done == 1);
  CHECK(a.agent->stats().no_task_left);
  std::this_thread::sleep_for(300ms);  // six heartbeat intervals
  CHECK_FALSE(b2.ended);
  CHECK_FALSE(quiet.ended);

  bob_runner.open_gate();
  REQUIRE(wait_until([&] { return b2.ended.load(); }, 10s));
  CHECK(b2.result.ok());
  CHECK(b2.agent->stats().tasks_done == 0);
  CHECK(b2.agent->stats().no_task_left);
  CHECK(campaign_done(coord, dir));
  CHECK_FALSE(quiet.ended);
  CHECK_FALSE(quiet.agent->stats().no_task_left);
  CHECK_FALSE(carol.ended);
  CHECK(carol.agent->stats().connects >= 1);
  // ... and is said, once.
  auto db = coord.reader(dir);
  CHECK(count_events(*db, "taskless-data", "dev-carol") == 1);
  CHECK(count_events(*db, "taskless-data") == 1);
  CHECK(b1.agent->stats().tasks_done == 1);
}

TEST_CASE("an agent that leaves when done leaves when the coordinator stops with all done",
          "[net]") {
  // fp-coordinator serve --exit-when-done stops at the last task's end, before an idle agent
  // is told that nothing is left: its plain goodbye had fp-agent --leave-when-done reconnect
  // to the stopped coordinator for ever.
  TempDir dir;
  coord::ServerConfig config = fast_server();
  config.exit_when_done = true;
  config.heartbeat_ms = 1000;  // no idle tick before the stop: the goodbye must say it
  Coordinator coord(dir, {"alice"}, 20 << 10, config);
  FakeRunner runner;
  auto alice = agent_config("dev-alice", coord.endpoint(), dir, {"toy/alice"});
  alice.leave_when_done = true;
  AgentThread a(alice, coord.context(), runner);
  coord.join();
  REQUIRE(wait_until([&] { return a.ended.load(); }, 10s));
  CHECK(a.result.ok());
  CHECK(a.agent->stats().tasks_done == 1);
  CHECK(a.agent->stats().no_task_left);
}

TEST_CASE("an interrupted download resumes from the chunks on disk", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 500 << 10, fast_server());
  fs::create_directories(dir.file("agent-a1/models"));
  {
    // Three whole chunks and part of a fourth, as a killed agent would leave them.
    std::ofstream part(dir.file("agent-a1/models/" + coord.sha() + ".part"), std::ios::binary);
    part << coord.model_bytes().substr(0, 3 * (64 << 10) + 1000);
  }
  FakeRunner runner;
  {
    AgentThread a(agent_config("a1", coord.endpoint(), dir, {"toy/alice"}), coord.context(),
                  runner);
    REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
    CHECK(a.agent->stats().bytes_downloaded == (500 << 10) - 3 * (64 << 10));
  }
  CHECK(runner.model_hashes() == std::set<std::string>{coord.sha()});
}

TEST_CASE("a damaged model in the agent's cache is fetched again, never used", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 300 << 10, fast_server());
  fs::create_directories(dir.file("agent-a1/models"));
  // A cached copy that no longer hashes to its address, as a disk error leaves it.
  const std::string damage = GENERATE(as<std::string>{}, "flipped", "truncated");
  std::string bytes = coord.model_bytes();
  if (damage == "flipped") {
    bytes[bytes.size() / 2] ^= 0x10;
  } else {
    bytes.resize(bytes.size() - 1000);
  }
  std::ofstream(dir.file("agent-a1/models/" + coord.sha() + ".fpm"), std::ios::binary) << bytes;
  FakeRunner runner;
  {
    AgentThread a(agent_config("a1", coord.endpoint(), dir, {"toy/alice"}), coord.context(),
                  runner);
    REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
    CHECK(a.agent->stats().bytes_downloaded == 300 << 10);
  }
  CHECK(runner.model_hashes() == std::set<std::string>{coord.sha()});
  CHECK(sha256_hex(read_file(dir.file("agent-a1/models/" + coord.sha() + ".fpm"))) == coord.sha());
}

TEST_CASE("agents taking turns on one kept task thread each compute their own task", "[net]") {
  // As a simulation host's slot runs its agents (AgentHost): the first is stopped while its
  // task computes, and its end waits for that task; the next one's task then runs on the
  // same thread.
  TempDir dir;
  Coordinator coord(dir, {"alice", "bob"}, 100 << 10, fast_server());
  FakeRunner runner;
  TaskThread task_thread("fp-task");
  runner.close_gate();
  {
    AgentThread a(agent_config("a1", coord.endpoint(), dir, {"toy/alice"}), coord.context(), runner,
                  &task_thread);
    REQUIRE(wait_until([&] { return runner.running(); }));
  }  // stopped: its task is cancelled, and waited for
  CHECK(runner.runs == 1);
  runner.open_gate();
  AgentThread b(agent_config("a2", coord.endpoint(), dir, {"toy/bob"}), coord.context(), runner,
                &task_thread);
  REQUIRE(wait_until([&] { return *coord.reader(dir)->telemetry_count() == 2; }));
  CHECK(runner.runs == 2);
  CHECK(b.agent->stats().tasks_done == 1);
}

TEST_CASE("an agent reconnects after the coordinator restarts and keeps its task", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"alice"}, 100 << 10, fast_server());
  FakeRunner runner;
  runner.close_gate();
  AgentThread a(agent_config("a1", coord.endpoint(), dir, {"toy/alice"}), coord.context(), runner);
  REQUIRE(wait_until([&] { return runner.running(); }));
  coord.stop();
  coord.start();  // same database, same port
  REQUIRE(wait_until([&] { return a.agent->stats().connects >= 2; }));
  runner.open_gate();
  REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
  auto db = coord.reader(dir);
  CHECK(count_events(*db, "resume") == 1);
  auto t = db->tasks(coord.campaign_id());
  CHECK((*t)[0].attempts == 1);  // reclaimed, not handed out again
  CHECK(*db->telemetry_count() == 2);
}

TEST_CASE("results made for a replaced coordinator database are not resent to the new one",
          "[net]") {
  // A device finishes task 1 while its coordinator is down; the operator then starts the
  // coordinator afresh (a new database: its first task is task 1 again, the same device's).
  // The old result must not close the new task, nor its idempotency keys shadow the new ones.
  TempDir old_dir, new_dir, agent_dir;
  zmq::context_t context(1);
  FakeRunner runner;
  runner.close_gate();
  std::optional<Coordinator> old_coord(std::in_place, old_dir, std::vector<std::string>{"alice"},
                                       4096, fast_server(), &context);
  const std::string endpoint = old_coord->endpoint();
  AgentThread a(agent_config("a1", endpoint, agent_dir, {"toy/alice"}), context, runner);
  REQUIRE(wait_until([&] { return runner.running(); }));
  old_coord.reset();  // stopped, its database left behind
  auto config = fast_server();
  config.endpoint = endpoint;
  std::optional<Coordinator> new_coord;
  SECTION("the old task finished while no coordinator was there") {
    runner.open_gate();
    REQUIRE(wait_until([&] { return runner.runs == 1; }));
    new_coord.emplace(new_dir, std::vector<std::string>{"alice"}, 8192, config, &context);
  }
  SECTION("the old task still runs when the new coordinator welcomes the device") {
    new_coord.emplace(new_dir, std::vector<std::string>{"alice"}, 8192, config, &context);
    REQUIRE(wait_until([&] { return a.agent->stats().connects >= 2; }));
    REQUIRE(wait_until([&] { return runner.runs == 1; }));  // cancelled, its result dropped
    runner.open_gate();
  }
  REQUIRE(wait_until([&] { return campaign_done(*new_coord, new_dir); }));
  CHECK(runner.runs == 2);  // the new task ran, on the new campaign's model
  CHECK(runner.model_hashes().count(new_coord->sha()) == 1);
  auto db = new_coord->reader(new_dir);
  CHECK(*db->telemetry_count() == 2);
  auto tasks = db->tasks(new_coord->campaign_id());
  REQUIRE(tasks.ok());
  for (const auto& t : *tasks) CHECK(t.attempts == 1);
  new_coord->stop();
  CHECK(new_coord->server().stats().reports_duplicate == 0);
}

TEST_CASE("an agent keeping downloads in memory fetches a model once for its tasks", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {"x", "y"}, 200 << 10, fast_server());
  FakeRunner runner;
  auto config = agent_config("a1", coord.endpoint(), dir, {"toy/x", "toy/y"});
  config.downloads_in_memory = true;
  {
    AgentThread a(config, coord.context(), runner);
    REQUIRE(wait_until([&] { return a.agent->stats().tasks_done == 2; }));
    CHECK(a.agent->stats().bytes_downloaded == 200 << 10);  // once, for two tasks
  }
  CHECK(runner.in_memory_models == 2);
  CHECK(runner.model_hashes() == std::set<std::string>{coord.sha()});
  CHECK_FALSE(fs::exists(dir.file("agent-a1")));
}

TEST_CASE("open enrollment gives each announced individual a task", "[net]") {
  TempDir dir;
  Coordinator coord(dir, {}, 64 << 10, fast_server());
  FakeRunner runner;
  {
    AgentThread a(agent_config("a1", coord.endpoint(), dir, {"toy/x", "toy/y"}), coord.context(),
                  runner);
    AgentThread b(agent_config("b1", coord.endpoint(), dir, {"other/z"}), coord.context(), runner);
    REQUIRE(wait_until([&] { return a.agent->stats().tasks_done == 2; }));
    // The coordinator assigns (or not) while it handles the Hello, and commits that
    // handling's events in one transaction: once b1's join is stored, so is any
    // assignment to b1.
    auto db = coord.reader(dir);
    REQUIRE(wait_until([&] { return count_events(*db, "join", "b1") == 1; }));
    CHECK(count_events(*db, "assign", "b1") == 0);  // no campaign over "other"
    CHECK(count_events(*db, "assign", "a1") == 2);
    CHECK(b.agent->stats().tasks_done == 0);
  }
  auto tasks = coord.reader(dir)->tasks(coord.campaign_id());
  REQUIRE(tasks->size() == 2);
  CHECK((*tasks)[0].individual == "x");
  CHECK((*tasks)[1].individual == "y");
}

namespace {

// A campaign policy that differs from the default at each of its three decisions:
// it never enrolls individual "y", takes an agent's holdings last-first, and fails any
// task of individual "bad" before its first attempt.
class PickyPolicy : public coord::CampaignPolicy {
 public:
  bool enroll(const coord::AgentView&, const std::string&, const std::string& individual) override {
    return individual != "y";
  }
  Result<std::optional<store::TaskRecord>> next_task(store::Store& store,
                                                     const coord::AgentView& agent,
                                                     const std::set<int64_t>& held) override {
    for (auto it = agent.holdings.rbegin(); it != agent.holdings.rend(); ++it) {
      FP_ASSIGN_OR_RETURN(auto found, store.find_pending_task(it->first, it->second, held));
      if (found) return found;
    }
    return std::optional<store::TaskRecord>();
  }
  std::optional<std::string> give_up(const store::TaskRecord& task) override {
    if (task.individual == "bad") return std::string("picky policy: never run 'bad'");
    return std::nullopt;
  }
};

}  // namespace

TEST_CASE("the default policy fails a task after max_attempts assignments", "[net][policy]") {
  coord::FirstPendingPolicy policy(3);
  store::TaskRecord t;
  t.attempts = 2;
  CHECK_FALSE(policy.give_up(t).has_value());
  t.attempts = 3;
  REQUIRE(policy.give_up(t).has_value());
  CHECK(*policy.give_up(t) == "gave up after 3 attempt(s)");
}

TEST_CASE("the server asks its campaign policy who enrolls, what comes next, what fails",
          "[net][policy]") {
  TempDir dir;
  coord::ServerConfig config = fast_server();
  config.policy = std::make_shared<PickyPolicy>();
  Coordinator coord(dir, {}, 64 << 10, config);  // open enrollment
  FakeRunner runner;
  {
    AgentThread a(agent_config("a1", coord.endpoint(), dir, {"toy/x", "toy/y", "toy/bad", "toy/z"}),
                  coord.context(), runner);
    REQUIRE(wait_until([&] { return a.agent->stats().tasks_done == 2; }));
  }
  auto db = coord.reader(dir);
  auto tasks = db->tasks(coord.campaign_id());
  REQUIRE(tasks.ok());
  std::map<std::string, store::TaskRecord> by_individual;
  for (const auto& t : *tasks) by_individual[t.individual] = t;
  CHECK(by_individual.count("y") == 0);  // not enrolled: no task exists
  REQUIRE(by_individual.count("bad") == 1);
  CHECK(by_individual["bad"].status == "failed");
  CHECK(by_individual["bad"].attempts == 0);  // failed before it was ever handed out
  CHECK(by_individual["bad"].error == "picky policy: never run 'bad'");
  CHECK(by_individual["x"].status == "done");
  CHECK(by_individual["z"].status == "done");
  // Last-first: z was assigned before x.
  auto events = db->events(1000);
  REQUIRE(events.ok());
  std::vector<int64_t> assigned;
  for (const auto& e : *events)
    if (e.kind == "assign") assigned.push_back(e.task_id);
  REQUIRE(assigned.size() == 2);
  // events() reads them oldest first (the store appends, "read newest-last").
  const int64_t first = assigned.front();
  CHECK(first == by_individual["z"].id);
}

TEST_CASE("the commit worker runs a job, wakes its poller and hands back the job's status",
          "[net][commit]") {
  zmq::context_t context;
  coord::CommitWorker worker(context);
  CHECK_FALSE(worker.busy());
  CHECK(worker.wait().ok());  // nothing in flight

  std::atomic<bool> release{false};
  std::atomic<int> runs{0};
  worker.submit([&]() -> Status {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ++runs;
    return Status::ok_status();
  });
  CHECK(worker.busy());
  // Still running: no note yet.
  zmq::pollitem_t item{worker.socket().handle(), 0, ZMQ_POLLIN, 0};
  CHECK(zmq::poll(&item, 1, std::chrono::milliseconds(20)) == 0);
  release = true;
  CHECK(zmq::poll(&item, 1, std::chrono::milliseconds(5000)) == 1);
  worker.drain_notes();
  CHECK(worker.wait().ok());
  CHECK_FALSE(worker.busy());
  CHECK(runs == 1);

  worker.submit([]() -> Status { return Status::io_error("disk full"); });
  Status failed = worker.wait();
  CHECK(failed.code() == Status::Code::kIOError);
  CHECK(failed.message() == "disk full");

  // The destructor lets a submitted job finish.
  {
    coord::CommitWorker last(context);
    last.submit([&]() -> Status {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ++runs;
      return Status::ok_status();
    });
  }
  CHECK(runs == 2);
}

TEST_CASE("an agent's loop sleeps until its next deadline while its task runs", "[net][agent]") {
  TempDir dir;
  auto config = fast_server();
  config.heartbeat_ms = 1000;  // one deadline a second: a fixed tick would show as passes
  Coordinator coord(dir, {"alice"}, 64 << 10, config);
  FakeRunner runner;
  runner.close_gate();
  AgentThread a(agent_config("dev-alice", coord.endpoint(), dir, {"toy/alice"}), coord.context(),
                runner);
  REQUIRE(wait_until([&] { return runner.running(); }));
  const int64_t before = a.agent->stats().loop_passes;
  std::this_thread::sleep_for(600ms);
  const int64_t passes = a.agent->stats().loop_passes - before;
  // At most a heartbeat each way and the 250 ms ceiling; a 20 ms tick would make ~30.
  CHECK(passes <= 8);
  runner.open_gate();
  REQUIRE(wait_until([&] { return a.agent->stats().tasks_done == 1; }));
  CHECK(a.agent->stats().reports_acked == 2);
  REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
}

namespace {

// A coordinator with no campaign, for how run() starts and stops.
struct BareServer {
  TempDir dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<coord::ModelRegistry> registry;
  zmq::context_t context{1};
  std::unique_ptr<coord::Server> server;

  explicit BareServer(bool handle_signals = false,
                      const std::string& endpoint = "tcp://127.0.0.1:*") {
    auto opened = store::Store::open(dir.file("fp.db"));
    REQUIRE(opened.ok());
    store = std::move(opened).value();
    registry = std::make_unique<coord::ModelRegistry>(dir.file("models"), *store);
    auto config = fast_server();
    config.endpoint = endpoint;
    config.security.plain = true;
    config.handle_signals = handle_signals;
    server = std::make_unique<coord::Server>(config, context, *store, *registry);
  }
  // Runs it on a thread; whether it returned by itself within 20 s (else it is stopped, so
  // the suite does not hang), and its status.
  std::pair<bool, Status> run(const std::function<Status()>& on_serving = {}) {
    std::atomic<bool> done{false};
    Status status;
    std::thread serving([&] {
      status = server->run(on_serving);
      done = true;
    });
    const bool returned = wait_until([&] { return done.load(); });
    if (!returned) server->request_stop();  // the waker exists by now
    serving.join();
    return {returned, status};
  }
};

}  // namespace

TEST_CASE("a stop asked before the server runs ends its run at once", "[net]") {
  BareServer bare;
  bare.server->request_stop();  // before run() has made the waker that would carry it
  const auto [returned, status] = bare.run();
  CHECK(returned);
  CHECK(status.ok());
}

TEST_CASE("a server says it is serving only once a SIGTERM would stop it cleanly", "[net]") {
  // fp-coordinator writes its endpoint file there: a supervisor that reads it and stops the
  // coordinator at once must get a clean stop, not a process killed in its start.
  BareServer bare(/*handle_signals=*/true);
  SECTION("a SIGTERM sent from on_serving ends the run cleanly") {
    bool told = false;
    const auto [returned, status] = bare.run([&] {
      told = true;
      ::kill(::getpid(), SIGTERM);  // before the waker's handler exists, this kills the test
      return Status::ok_status();
    });
    CHECK(told);
    CHECK(returned);
    CHECK(status.ok());
  }
  SECTION("a failing on_serving ends the run with its error") {
    const auto [returned, status] =
        bare.run([] { return Status::io_error("endpoint file: disk full"); });
    CHECK(returned);
    CHECK(status.to_string().find("endpoint file: disk full") != std::string::npos);
  }
}

TEST_CASE("agents run one after another take turns on one connection, each with its session",
          "[net][agent]") {
  TempDir dir;
  const bool curve = GENERATE(false, true);
  const auto server_keys = new_keys();
  const auto host_keys = new_keys();
  Coordinator coord(dir, {"alice", "bob", "carol"}, 100 << 10,
                    curve ? curve_server(server_keys) : fast_server());
  if (curve) REQUIRE(coord.reader(dir)->enroll_key(host_keys.public_key, "host", 1).ok());
  FakeRunner runner;
  agent::ConnectionSlot slot;
  int64_t taken_over = 0;
  for (std::string name : {"alice", "bob", "carol"}) {
    auto config = agent_config("dev-" + name, coord.endpoint(), dir, {"toy/" + name});
    config.max_tasks = 1;
    config.leave_on_goodbye = true;
    if (curve) config.security = {false, host_keys, server_keys.public_key};
    agent::Agent a(config, coord.context(), runner);
    a.share_connections(&slot);
    REQUIRE(a.run().ok());
    const auto stats = a.stats();
    CHECK(stats.tasks_done == 1);
    CHECK(stats.reports_acked == 2);
    CHECK(stats.bytes_downloaded == 100 << 10);
    // Only the first agent connects; the others take its connection over.
    CHECK(stats.connects == (name == "alice" ? 1 : 0));
    CHECK(stats.connections_taken_over == (name == "alice" ? 0 : 1));
    taken_over += stats.connections_taken_over;
    CHECK(slot.holds());  // each agent that finished leaves it for the next
  }
  CHECK(taken_over == 2);
  CHECK(slot.take("tcp://127.0.0.1:1") == std::nullopt);  // another endpoint: closed
  CHECK_FALSE(slot.holds());

  REQUIRE(wait_until([&] { return campaign_done(coord, dir); }));
  auto db = coord.reader(dir);
  // One session an agent: three joins and three leaves, no requeue, one attempt each.
  CHECK(wait_until([&] { return count_events(*db, "leave") == 3; }));
  CHECK(count_events(*db, "join") == 3);
  CHECK(count_events(*db, "requeue") == 0);
  check_done_once_each(*db, coord.campaign_id(), 3);
  auto rows = db->telemetry(coord.campaign_id());
  REQUIRE(rows.ok());
  CHECK(rows->size() == 6);
  for (const auto& r : *rows) CHECK(r.agent_id == "dev-" + r.individual);
}

TEST_CASE("before its Welcome an agent ignores what was sent to its connection's last agent",
          "[net][agent]") {
  BobAgainstRaw raw(
      [](agent::AgentConfig& c) {
        c.leave_on_goodbye = true;
        c.leave_when_done = true;
      },
      false);
  RawCoordinator& coord = raw.coord;
  const std::string sha(64, 'a');
  proto::TaskAssignment stale{7, 1, sha, 1024, "{}", "{}", "toy", "alice", {}, {}};
  // The last session's leftovers: an Ack, its next task, a heartbeat, "no task left".
  coord.send(proto::Ack{"dev-alice:6:status", false});
  coord.send(stale);
  coord.send(proto::Heartbeat{6});
  coord.send(proto::Goodbye{"no task left", true});
  CHECK(coord.read_for(300ms).empty());  // it waits for its Welcome
  coord.send(proto::Welcome{"s-bob", 1000, 64 << 10, 4, ""});
  // Nothing was taken for its own: no chunk requested, no "busy with task 7" error.
  for (const auto& m : coord.read_for(300ms)) CHECK(std::holds_alternative<proto::Heartbeat>(m));
  // After the Welcome an assignment is its own: it fetches the model.
  proto::TaskAssignment own{8, 1, sha, 1024, "{}", "{}", "toy", "bob", {}, {}};
  coord.send(own);
  int requests = 0;
  CHECK(wait_until([&] {
    requests += count_of<proto::ChunkRequest>(coord.read_for(50ms));
    return requests > 0;
  }));
  // Told that nothing is left while it downloads, it stays: it leaves only when idle.
  coord.send(proto::Goodbye{"no task left", true});
  coord.read_for(300ms);
  CHECK_FALSE(raw.bob->ended);
  CHECK_FALSE(raw.bob->agent->stats().no_task_left);
}

TEST_CASE("an agent with no room for a model on disk runs it from memory; bad chunks fail a task",
          "[net][agent]") {
  // Both used to fetch the model again at once, for ever: a device with a full disk sent
  // tens of thousands of requests a minute until the coordinator's rate limit cut in. Then
  // a full disk failed the task for good, though the model fits in memory.
  BobAgainstRaw raw([](agent::AgentConfig& c) { c.max_download_restarts = 2; });
  RawCoordinator& coord = raw.coord;
  // Answers each chunk request with `chunk_for(request)` until the agent closes its task;
  // returns the status (a result's, if done) and how many chunks were asked for.
  auto serve_until_status =
      [&](const std::function<proto::Chunk(const proto::ChunkRequest&)>& chunk_for) {
        std::optional<proto::TaskStatus> status;
        int requests = 0;
        auto until = std::chrono::steady_clock::now() + 10s;
        while (!status && std::chrono::steady_clock::now() < until) {
          for (const auto& m : coord.read_for(10ms)) {
            if (auto* r = std::get_if<proto::ChunkRequest>(&m)) {
              ++requests;
              coord.send(chunk_for(*r));
            } else if (auto* st = std::get_if<proto::TaskStatus>(&m)) {
              status = *st;
              coord.send(proto::Ack{st->idempotency_key, false});
            } else if (auto* result = std::get_if<proto::TaskResult>(&m)) {
              status = result->status;  // a task done: its reports with its status
              coord.send(proto::Ack{status->idempotency_key, false});
            }
          }
        }
        REQUIRE(status.has_value());
        return std::make_pair(*status, requests);
      };
  coord.send(proto::Welcome{"s-bob", 1000, 1024, 4, ""});
  const std::string model = random_bytes(8192, 3);
  const std::string sha = sha256_hex(model);

  SECTION("a disk that fills during the download: the model is fetched again into memory") {
    coord.send(proto::TaskAssignment{1, 1, sha, model.size(), "{}", "{}", "toy", "bob", {}, {}});
    auto [status, requests] = testing::with_file_size_limit(3000, [&] {
      return serve_until_status([&](const proto::ChunkRequest& r) {
        return proto::Chunk{sha, r.offset, model.size(), model.substr(r.offset, r.length)};
      });
    });
    INFO(status.reason);
    CHECK(status.ok);
    CHECK(raw.runner.in_memory_models == 1);
    CHECK(raw.runner.model_hashes() == std::set<std::string>{sha});
    CHECK(requests > 8);  // the chunks on disk were fetched again
    CHECK(requests < 20);
    // The partial file is gone: its room is freed, and nothing is resumed from it.
    CHECK_FALSE(std::filesystem::exists(std::filesystem::path(raw.config.work_dir) / "models" /
                                        (sha + ".part")));
  }
  SECTION("a downloaded model that cannot be put in place: fetched again into memory") {
    // Its place taken by a folder (holding a file, so not removed): the rename fails.
    const auto place = std::filesystem::path(raw.config.work_dir) / "models" / (sha + ".fpm");
    std::filesystem::create_directories(place);
    std::ofstream(place / "x") << "x";
    coord.send(proto::TaskAssignment{1, 1, sha, model.size(), "{}", "{}", "toy", "bob", {}, {}});
    auto [status, requests] = serve_until_status([&](const proto::ChunkRequest& r) {
      return proto::Chunk{sha, r.offset, model.size(), model.substr(r.offset, r.length)};
    });
    INFO(status.reason);
    CHECK(status.ok);
    CHECK(raw.runner.in_memory_models == 1);
    CHECK(requests == 16);  // every chunk twice: to the disk, then into memory
  }
  SECTION("a model larger than the free space and the memory: refused before a byte is fetched") {
    const uint64_t huge = uint64_t{1} << 60;
    coord.send(proto::TaskAssignment{1, 1, sha, huge, "{}", "{}", "toy", "bob", {}, {}});
    auto [status, requests] = serve_until_status([&](const proto::ChunkRequest& r) {
      return proto::Chunk{sha, r.offset, huge, std::string(r.length, 'x')};
    });
    CHECK_FALSE(status.ok);
    CHECK(requests == 0);
    INFO(status.reason);
    CHECK(status.reason.find("no room for the model in <work folder>/models: ") !=
          std::string::npos);
    CHECK(status.reason.find(std::to_string(huge) + " needed") != std::string::npos);
    CHECK(raw.runner.in_memory_models == 0);
  }
  SECTION("chunks that contradict their requests: given up after the allowed restarts") {
    coord.send(proto::TaskAssignment{1, 1, sha, model.size(), "{}", "{}", "toy", "bob", {}, {}});
    auto [status, requests] = serve_until_status([&](const proto::ChunkRequest& r) {
      return proto::Chunk{sha, r.offset, model.size(), "short"};
    });
    CHECK_FALSE(status.ok);
    INFO(status.reason);
    CHECK(status.reason.find("model download restarted 3 time(s): chunk at ") != std::string::npos);
    CHECK(requests < 50);  // a few credits' worth per restart, not a loop
    CHECK(raw.bob->agent->stats().download_restarts == 3);
  }
}

TEST_CASE("an unacknowledged result is resent to its coordinator's database, not to another",
          "[net][agent]") {
  std::string outbox;
  BobAgainstRaw raw([&](agent::AgentConfig& c) {
    c.outbox_dir = outbox = c.work_dir + "-outbox";  // on disk, as fp-agent keeps it
  });
  RawCoordinator& coord = raw.coord;
  coord.send(proto::Welcome{"s-1", 1000, 1024, 4, "db-old"});
  const std::string model = random_bytes(1000, 5);
  const std::string sha = sha256_hex(model);
  coord.send(proto::TaskAssignment{1, 1, sha, model.size(), "{}", "{}", "toy", "bob", {}, {}});
  // Serves the model; the result that comes back is never acknowledged.
  int results = 0;
  REQUIRE(wait_until([&] {
    for (const auto& m : coord.read_for(10ms)) {
      if (auto* r = std::get_if<proto::ChunkRequest>(&m))
        coord.send(proto::Chunk{sha, r->offset, model.size(), model.substr(r->offset, r->length)});
      results += std::holds_alternative<proto::TaskResult>(m);
    }
    return results > 0;
  }));
  // The coordinator goes away and comes back (the agent says Hello again).
  coord.send(proto::Goodbye{"coordinator shutting down"});
  coord.await_hello();
  SECTION("on the same database: resent") {
    coord.send(proto::Welcome{"s-2", 1000, 1024, 4, "db-old"});
    CHECK(count_of<proto::TaskResult>(coord.read_for(800ms)) >= 1);
    CHECK_FALSE(std::filesystem::is_empty(outbox));
  }
  SECTION("on another database: dropped, on disk too") {
    coord.send(proto::Welcome{"s-2", 1000, 1024, 4, "db-new"});
    CHECK(count_of<proto::TaskResult>(coord.read_for(800ms)) == 0);  // resend_after: 300 ms
    CHECK(std::filesystem::is_empty(outbox));
  }
}

TEST_CASE("a restarted agent claims the task whose result its outbox still holds", "[net][agent]") {
  BobAgainstRaw raw([](agent::AgentConfig& c) { c.outbox_dir = c.work_dir + "-outbox"; });
  RawCoordinator& coord = raw.coord;
  CHECK(coord.hello.current_task_id == 0);
  coord.send(proto::Welcome{"s-1", 50, 1024, 4, "db-1"});
  const std::string model = random_bytes(1000, 6);
  const std::string sha = sha256_hex(model);
  coord.send(proto::TaskAssignment{7, 1, sha, model.size(), "{}", "{}", "toy", "bob", {}, {}});
  std::string status_key;
  REQUIRE(wait_until([&] {
    for (const auto& m : coord.read_for(10ms)) {
      if (auto* r = std::get_if<proto::ChunkRequest>(&m))
        coord.send(proto::Chunk{sha, r->offset, model.size(), model.substr(r->offset, r->length)});
      if (auto* r = std::get_if<proto::TaskResult>(&m)) status_key = r->status.idempotency_key;
    }
    return !status_key.empty();
  }));
  // The agent stops before the result is acknowledged, and starts again: its Hello keeps
  // task 7 (so a coordinator does not hand it out again) while the result is resent...
  raw.bob.reset();
  raw.bob = std::make_unique<AgentThread>(raw.config, raw.context, raw.runner);
  coord.await_hello();
  CHECK(coord.hello.current_task_id == 7);
  coord.send(proto::Welcome{"s-2", 50, 1024, 4, "db-1"});
  auto heartbeats_name = [&](uint64_t task) {  // answered, so that the agent stays
    bool named = false;
    for (int i = 0; i < 4; ++i) {
      for (const auto& m : coord.read_for(50ms)) {
        if (auto* h = std::get_if<proto::Heartbeat>(&m)) {
          named = h->task_id == task;
          coord.send(proto::Heartbeat{0});
        }
      }
    }
    return named;
  };
  CHECK(heartbeats_name(7));
  // ... and, once acknowledged, the agent is idle.
  coord.send(proto::Ack{status_key, false});
  CHECK(wait_until([&] { return heartbeats_name(0); }));
  CHECK(raw.runner.runs == 1);  // the restarted agent did not run it again
}

TEST_CASE("a coordinator takes no ipc:// path another program serves, nor deletes a file there",
          "[net]") {
  // libzmq's bind deletes whatever is at the path first, meant for a socket a stopped
  // program left: a second coordinator would take the path from a running one unnoticed.
  TempDir paths;
  const std::string socket = paths.file("fp.sock");
  std::optional<BareServer> first(std::in_place, false, "ipc://" + socket);
  REQUIRE(first->server->bind().ok());
  {
    BareServer second(false, "ipc://" + socket);
    Status taken = second.server->bind();
    CHECK(taken.code() == Status::Code::kUnavailable);
    CHECK(taken.message() == "endpoint 'ipc://" + socket + "': a running program serves " + socket +
                                 " (binding would take the path from it)");
  }
  CHECK_FALSE(proto::check_ipc_path_free("ipc://" + socket).ok());  // the first still serves
  first.reset();  // stopped: libzmq leaves its socket file, which the next start replaces
  REQUIRE(fs::exists(socket));
  CHECK(proto::check_ipc_path_free("ipc://" + socket).ok());
  CHECK(BareServer(false, "ipc://" + socket).server->bind().ok());
  const std::string notes = paths.file("notes.txt");
  std::ofstream(notes) << "keep me";
  Status file = BareServer(false, "ipc://" + notes).server->bind();
  CHECK(file.message() == "endpoint 'ipc://" + notes + "': " + notes +
                              " exists and is not a socket (binding would delete it)");
  CHECK(fp::testing::read_file(notes) == "keep me");
}
