// SIGKILL against real processes: fp-agent killed while it downloads the model or
// while it runs its task, and fp-coordinator killed (and frozen, then killed) in the
// middle of a campaign and restarted on the same SQLite file. Every kill is repeated;
// the counts are the numbers in docs/RELIABILITY.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <iostream>
#include <map>
#include <set>

#include "child_process.h"
#include "coordinator/campaign_setup.h"
#include "count_of.h"
#include "free_port.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "net_fixture.h"
#include "process_fixture.h"
#include "tcp_tap.h"
#include "test_paths.h"
#include "util/sha256.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kAgentKills = 3;        // per phase: during the download, during the task
constexpr int kCoordinatorKills = 3;  // the first one freezes it first (a lost Ack)

// A model of the given width registered in dir/fp.db; returns its SHA-256 and size.
std::pair<std::string, uint64_t> register_model(const TempDir& dir, double width_mult) {
  ModelSpec spec;
  spec.arch = "mlp";
  spec.width_mult = width_mult;
  auto model = build_model(spec);
  REQUIRE(model.ok());
  REQUIRE(save_model(**model, dir.file("general.fpm")).ok());
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  coord::ModelRegistry registry(dir.file("models"), **store);
  auto record = coord::register_artifact(registry, dir.file("general.fpm"), 1.0);
  REQUIRE(record.ok());
  return {record->sha256, static_cast<uint64_t>(record->size_bytes)};
}

// Small chunks, one in flight: the download of a few megabytes takes long enough to
// be interrupted. Many attempts: each kill costs one.
void write_config(const TempDir& dir, const std::string& endpoint, int heartbeat_ms,
                  const std::vector<std::string>& individuals) {
  std::string list;
  for (const auto& i : individuals) list += (list.empty() ? "\"" : ", \"") + i + "\"";
  std::ofstream(dir.file("fp.toml"))
      << "[server]\nendpoint = \"" << endpoint << "\"\ndatabase = \"" << dir.file("fp.db")
      << "\"\nmodels_dir = \"" << dir.file("models") << "\"\nheartbeat_ms = " << heartbeat_ms
      << "\nliveness = 5\nchunk_size = 1024\nchunk_credit = 1\nmax_attempts = 20\n\n"
      << "[campaign]\nname = \"faults\"\ndataset = \"fashion-mnist\"\nindividuals = [" << list
      << "]\nbaselines = [\"finetune\"]\n\n[campaign.prune]\ntarget_sparsity = 0.5\n";
}

std::unique_ptr<ChildProcess> start_serve(const TempDir& dir, const std::string& log) {
  fs::remove(dir.file("endpoint"));
  auto serve = std::make_unique<ChildProcess>(
      std::vector<std::string>{kCoordinator, "serve", "--plain", "-c", dir.file("fp.toml"),
                               "--exit-when-done", "--endpoint-file", dir.file("endpoint")},
      dir.file(log));
  INFO(read_file(dir.file(log)));
  REQUIRE(wait_until([&] { return fs::exists(dir.file("endpoint")); }, 60s));
  return serve;
}

std::unique_ptr<ChildProcess> start_agent(const TempDir& dir, const std::string& id,
                                          const std::string& endpoint,
                                          const std::vector<std::string>& individuals,
                                          const std::string& work_dir) {
  // Plain: the tap reads the frames to see which reports were acknowledged.
  std::vector<std::string> args = {kAgent,
                                   "--plain",
                                   "--id",
                                   id,
                                   "--coordinator",
                                   endpoint,
                                   "--dataset",
                                   "fashion-mnist",
                                   "--samples",
                                   "200",
                                   "--work-dir",
                                   dir.file(work_dir),
                                   "--finetune-epochs",
                                   "1",
                                   "--leave-on-goodbye",
                                   "--backoff-min-ms",
                                   "50",
                                   "--backoff-max-ms",
                                   "400"};
  for (const auto& i : individuals) {
    args.push_back("--individual");
    args.push_back(i);
  }
  return std::make_unique<ChildProcess>(args, dir.file(id + ".log"));
}

std::string endpoint_of(const TempDir& dir) {
  std::string e = read_file(dir.file("endpoint"));
  while (!e.empty() && e.back() == '\n') e.pop_back();
  return e;
}

// Waits until the coordinator's log says it dropped `agent` as silent; the drop must
// come within a few heartbeat intervals of the kill (liveness 5 x 100 ms: 0.5 s, plus
// slack for a loaded machine).
void wait_for_drop(const TempDir& dir, const std::string& log, const std::string& agent) {
  const auto killed = std::chrono::steady_clock::now();
  REQUIRE(wait_until(
      [&] { return count_of(read_file(dir.file(log)), "agent " + agent + " dropped (failure)"); },
      20s));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - killed)
                      .count();
  std::cout << agent << " dropped by the coordinator " << ms << " ms after the kill\n";
  CHECK(ms < 5000);
}

size_t count_events(store::Store& db, const std::string& kind, const std::string& agent) {
  auto events = db.events(100000);
  REQUIRE(events.ok());
  size_t n = 0;
  for (const auto& e : *events) n += e.kind == kind && (agent.empty() || e.agent_id == agent);
  return n;
}

// The task's results: exactly one telemetry row per method, all from `agent`.
void check_one_result(store::Store& db, const std::string& agent) {
  auto tasks = db.tasks();
  REQUIRE(tasks->size() == 1);
  const auto& t = tasks->front();
  CHECK(t.status == "done");
  CHECK(t.agent_id == agent);
  CHECK(t.attempts == kAgentKills + 1);
  auto rows = db.telemetry();
  REQUIRE(rows.ok());
  std::multiset<std::string> methods;
  for (const auto& r : *rows) {
    methods.insert(r.method);
    CHECK(r.agent_id == agent);
    CHECK(r.task_id == t.id);
  }
  CHECK(methods == std::multiset<std::string>{"fine_prune", "finetune"});
}

std::vector<proto::Message> messages(const std::vector<std::string>& streams, size_t max_bytes) {
  std::vector<proto::Message> out;
  for (const auto& stream : streams) {
    for (const auto& m : zmtp_messages(stream)) {
      auto decoded = proto::decode(m, max_bytes);
      if (decoded.ok()) out.push_back(std::move(decoded).value());
    }
  }
  return out;
}

// Each killed agent ("victim-<k>") is recorded as failed once and its task requeued once.
void check_victims_requeued(store::Store& db) {
  for (int k = 0; k < kAgentKills; ++k) {
    const std::string id = "victim-" + std::to_string(k);
    CHECK(count_events(db, "failure", id) == 1);
    CHECK(count_events(db, "requeue", id) == 1);
  }
}

}  // namespace

TEST_CASE("an agent killed during the model download: its task goes to another agent",
          "[processes][faults]") {
  TempDir dir("dlkill");
  // width 4: an artifact of about 6 MB, thousands of 1 KiB chunks.
  auto [sha, size] = register_model(dir, 4.0);
  write_config(dir, "tcp://127.0.0.1:*", 100, {"classes=0+9"});
  auto serve = start_serve(dir, "serve.log");
  const std::string endpoint = endpoint_of(dir);

  for (int k = 0; k < kAgentKills; ++k) {
    const std::string id = "victim-" + std::to_string(k);
    const std::string part = dir.file("work-" + id + "/models/" + sha + ".part");
    auto agent = start_agent(dir, id, endpoint, {"classes=0+9"}, "work-" + id);
    INFO(read_file(dir.file(id + ".log")));
    // Kill it once a few chunks are on disk: well inside the download.
    REQUIRE(wait_until(
        [&] {
          std::error_code ec;
          auto n = fs::file_size(part, ec);
          return !ec && n >= 16 * 1024;
        },
        30s));
    agent->signal(SIGKILL);
    REQUIRE(agent->wait(5s) == 128 + SIGKILL);
    std::cout << id << " killed with " << fs::file_size(part) << " of " << size
              << " model bytes on disk\n";
    CHECK(fs::file_size(part) < size);
    CHECK_FALSE(fs::exists(dir.file("work-" + id + "/models/" + sha + ".fpm")));
    INFO(read_file(dir.file("serve.log")));
    wait_for_drop(dir, "serve.log", id);
  }
  // Another agent, on the first victim's work folder: it resumes the partial download.
  auto rescuer = start_agent(dir, "rescuer", endpoint, {"classes=0+9"}, "work-victim-0");
  INFO(read_file(dir.file("rescuer.log")));
  REQUIRE(serve->wait(60s) == 0);
  CHECK(rescuer->wait(10s) == 0);
  CHECK(sha256_hex(read_file(dir.file("work-victim-0/models/" + sha + ".fpm"))) == sha);

  auto db = store::Store::open(dir.file("fp.db"));
  REQUIRE(db.ok());
  check_one_result(**db, "rescuer");
  check_victims_requeued(**db);
  CHECK(count_events(**db, "campaign-done", "") == 1);
}

TEST_CASE("an agent killed during its task: the task is rerun elsewhere, reported once",
          "[processes][faults]") {
  TempDir dir("taskkill");
  auto [sha, size] = register_model(dir, 1.0);
  write_config(dir, "tcp://127.0.0.1:*", 100, {"classes=1+7"});
  auto serve = start_serve(dir, "serve.log");
  const std::string endpoint = endpoint_of(dir);

  for (int k = 0; k < kAgentKills; ++k) {
    const std::string id = "victim-" + std::to_string(k);
    // One shared work folder: from the second victim on the model is already there.
    auto agent = start_agent(dir, id, endpoint, {"classes=1+7"}, "work");
    INFO(read_file(dir.file(id + ".log")));
    REQUIRE(wait_until(
        [&] {
          std::string log = read_file(dir.file(id + ".log"));
          return count_of(log, "downloaded and verified") + count_of(log, "already verified");
        },
        30s));
    agent->signal(SIGKILL);  // the task has started: it loads data, then prunes
    REQUIRE(agent->wait(5s) == 128 + SIGKILL);
    INFO(read_file(dir.file("serve.log")));
    wait_for_drop(dir, "serve.log", id);
    CHECK(count_of(read_file(dir.file("serve.log")), "finished task") == 0);
  }
  auto rescuer = start_agent(dir, "rescuer", endpoint, {"classes=1+7"}, "work");
  INFO(read_file(dir.file("rescuer.log")));
  REQUIRE(serve->wait(60s) == 0);
  CHECK(rescuer->wait(10s) == 0);

  auto db = store::Store::open(dir.file("fp.db"));
  REQUIRE(db.ok());
  check_one_result(**db, "rescuer");
  check_victims_requeued(**db);
}

TEST_CASE("the coordinator killed mid-campaign resumes from its SQLite file",
          "[processes][faults]") {
  TempDir dir("coordkill");
  auto [sha, size] = register_model(dir, 0.5);
  const std::vector<std::string> a_holds = {"classes=0+1", "classes=2+3", "classes=4+5"};
  const std::vector<std::string> b_holds = {"classes=6+7", "classes=8+9", "classes=0+5"};
  std::vector<std::string> all = a_holds;
  all.insert(all.end(), b_holds.begin(), b_holds.end());
  const int port = free_loopback_port();
  // A 1.5 s heartbeat: an agent keeps its connection 4.5 s after the coordinator goes
  // quiet, long enough for a running task's reports to reach a frozen coordinator.
  write_config(dir, "tcp://127.0.0.1:" + std::to_string(port), 1500, all);
  auto serve = start_serve(dir, "serve-0.log");
  TcpTap tap(port);  // the agents reach every incarnation of the coordinator through it
  const std::string via_tap = "tcp://127.0.0.1:" + std::to_string(tap.port());
  auto agent_a = start_agent(dir, "agent-a", via_tap, a_holds, "work-a");
  auto agent_b = start_agent(dir, "agent-b", via_tap, b_holds, "work-b");

  // Each report's key and the key its Ack names: its own, or that of the TaskResult
  // (its task's status) it travelled in.
  auto reports_up = [&] {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& m : messages(tap.upstream(), proto::kMaxAgentFrameBytes)) {
      if (auto* r = std::get_if<proto::TelemetryReport>(&m))
        out.emplace_back(r->idempotency_key, r->idempotency_key);
      if (auto* t = std::get_if<proto::TaskResult>(&m))
        for (const auto& r : t->reports)
          out.emplace_back(r.idempotency_key, t->status.idempotency_key);
    }
    return out;
  };
  auto report_keys = [&] {
    std::set<std::string> keys;
    for (const auto& r : reports_up()) keys.insert(r.first);
    return keys;
  };
  auto acked_reports = [&] {
    std::set<std::string> acks, acked;
    for (auto& m : messages(tap.downstream(), proto::kMaxCoordinatorFrameBytes))
      if (auto* a = std::get_if<proto::Ack>(&m)) acks.insert(a->idempotency_key);
    for (const auto& [report, acked_by] : reports_up())
      if (acks.count(acked_by)) acked.insert(report);
    return acked;
  };
  // Per task, the agents it was sent to (a connection's agent named by its Hello). Sent again
  // to the same agent is no second assignment: the coordinator resends one its agent says it
  // never got, and a kill can leave an agent without bytes the tap had recorded (seen once
  // in a loaded full suite, 5 Dec: a task's assignment twice on the tap, attempts 1).
  auto assignees = [&] {
    std::map<uint64_t, std::multiset<std::string>> to;
    const auto up = tap.upstream(), down = tap.downstream();
    for (size_t c = 0; c < up.size() && c < down.size(); ++c) {
      std::string agent;
      for (auto& m : messages({up[c]}, proto::kMaxAgentFrameBytes))
        if (auto* h = std::get_if<proto::Hello>(&m)) agent = h->agent_id;
      for (auto& m : messages({down[c]}, proto::kMaxCoordinatorFrameBytes))
        if (auto* a = std::get_if<proto::TaskAssignment>(&m)) to[a->task_id].insert(agent);
    }
    return to;
  };

  std::set<std::string> acked_before_kills;
  std::string frozen_key;  // a report sent while the coordinator was frozen
  for (int k = 0; k < kCoordinatorKills; ++k) {
    const std::string log = "serve-" + std::to_string(k) + ".log";
    INFO(read_file(dir.file(log)));
    INFO(read_file(dir.file("agent-a.log")));
    INFO(read_file(dir.file("agent-b.log")));
    if (k > 0) {
      // Kill it once the campaign is under way: a few more reports acknowledged.
      const size_t want = acked_reports().size() + 2;
      REQUIRE(wait_until([&] { return acked_reports().size() >= want; }, 60s));
    } else {
      // Freeze it while a task runs, let the task's reports go out unanswered, kill it.
      const size_t started = count_of(read_file(dir.file("agent-a.log")), "verified");
      REQUIRE(wait_until(
          [&] { return count_of(read_file(dir.file("agent-a.log")), "verified") > started; }, 60s));
      serve->signal(SIGSTOP);
      const auto before = report_keys();
      REQUIRE(wait_until([&] { return report_keys().size() > before.size(); }, 20s));
      for (const auto& key : report_keys())
        if (!before.count(key)) frozen_key = key;
    }
    serve->signal(SIGKILL);
    REQUIRE(serve->wait(5s) == 128 + SIGKILL);
    auto acked = acked_reports();
    if (k == 0) CHECK_FALSE(acked.count(frozen_key));
    acked_before_kills.insert(acked.begin(), acked.end());
    {
      // Everything acknowledged is in the file the dead coordinator left.
      auto db = store::Store::open(dir.file("fp.db"));
      REQUIRE(db.ok());
      auto rows = (*db)->telemetry();
      REQUIRE(rows.ok());
      std::set<std::string> stored;
      for (const auto& r : *rows) stored.insert(r.idempotency_key);
      for (const auto& key : acked) CHECK(stored.count(key));
    }
    CHECK_FALSE(agent_a->wait(0ms).has_value());  // the same processes throughout
    CHECK_FALSE(agent_b->wait(0ms).has_value());
    serve = start_serve(dir, "serve-" + std::to_string(k + 1) + ".log");
  }
  INFO(read_file(dir.file("agent-a.log")));
  INFO(read_file(dir.file("agent-b.log")));
  REQUIRE(serve->wait(120s) == 0);
  // An agent leaves on the coordinator's Goodbye. One that was between connections when
  // the coordinator left never gets it and keeps retrying, as agents should (a restarted
  // coordinator would take it back): stop that one.
  for (auto* agent : {agent_a.get(), agent_b.get()}) {
    if (!agent->wait(10s)) agent->signal(SIGTERM);
    CHECK(agent->wait(10s) == 0);
  }

  auto db = store::Store::open(dir.file("fp.db"));
  REQUIRE(db.ok());
  auto tasks = (*db)->tasks();
  REQUIRE(tasks->size() == all.size());
  for (const auto& t : *tasks) {
    INFO(t.individual);
    CHECK(t.status == "done");
    CHECK(t.attempts == 1);  // never handed out twice: the campaign went on, not over
  }
  // Each task went to one agent, at most once more (a resend); in all, at most one resend
  // per agent and kill: a campaign started over after a kill would send them all again.
  const auto sent_to = assignees();
  CHECK(sent_to.size() == all.size());
  size_t sends = 0;
  for (const auto& [task, agents] : sent_to) {
    INFO("task " << task);
    CHECK(std::set<std::string>(agents.begin(), agents.end()).size() == 1);
    CHECK(agents.size() <= 2);
    sends += agents.size();
  }
  CHECK(sends <= all.size() + 2 * kCoordinatorKills);
  auto rows = (*db)->telemetry();
  std::map<int64_t, std::multiset<std::string>> per_task;
  std::set<std::string> stored;
  for (const auto& r : *rows) {
    per_task[r.task_id].insert(r.method);
    stored.insert(r.idempotency_key);
  }
  CHECK(rows->size() == 2 * all.size());
  for (const auto& t : *tasks)
    CHECK(per_task[t.id] == std::multiset<std::string>{"fine_prune", "finetune"});
  for (const auto& key : acked_before_kills) CHECK(stored.count(key));
  // Each incarnation finished only the tasks left; none finished a task twice.
  size_t finished = 0;
  for (int k = 0; k <= kCoordinatorKills; ++k)
    finished +=
        count_of(read_file(dir.file("serve-" + std::to_string(k) + ".log")), "finished task");
  CHECK(finished == all.size());
  CHECK(count_of(read_file(dir.file("serve-" + std::to_string(kCoordinatorKills) + ".log")),
                 "finished task") < all.size());
  // The report the frozen coordinator never answered was sent again and stored once.
  REQUIRE(!frozen_key.empty());
  CHECK(stored.count(frozen_key));
  size_t sent = 0;
  for (const auto& r : reports_up()) sent += r.first == frozen_key;
  CHECK(sent >= 2);
  // For docs/RELIABILITY.md.
  std::cout << "coordinator kills: " << kCoordinatorKills
            << ", reports acknowledged before a kill: " << acked_before_kills.size()
            << ", all stored: " << stored.size() << " of " << 2 * all.size()
            << ", frozen report sent " << sent << " times, stored once\n";
  // The agents reconnected by themselves. An idle agent notices a restart only at its
  // next heartbeat, so one with no work left may sleep through the short-lived last
  // incarnations (seen in 2 of 15 runs): each joined, and they rejoined at least once.
  const auto joins_a = count_events(**db, "join", "agent-a");
  const auto joins_b = count_events(**db, "join", "agent-b");
  CHECK(joins_a >= 1);
  CHECK(joins_b >= 1);
  CHECK(joins_a + joins_b >= 3);
}

TEST_CASE("a second coordinator on a database another one serves is refused; the first serves on",
          "[processes][faults]") {
  TempDir dir("twoserve");
  register_model(dir, 0.5);
  write_config(dir, "tcp://127.0.0.1:*", 100, {"classes=0+9"});
  auto first = start_serve(dir, "serve-1.log");
  // Another port, the same database: it would requeue the first's live assignments as left
  // over by a stopped coordinator and hand their tasks out again.
  ChildProcess second({kCoordinator, "serve", "--plain", "-c", dir.file("fp.toml")},
                      dir.file("serve-2.log"));
  const auto code = second.wait(30s);
  const std::string log = read_file(dir.file("serve-2.log"));
  INFO(log);
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  CHECK(log.find("database " + dir.file("fp.db") +
                 " is in use by another process (fp-coordinator serve, pid " +
                 std::to_string(first->pid()) + ", since ") != std::string::npos);
  CHECK(first->running());
  // Killed, it leaves its lock file, which does not stop the next coordinator.
  first->signal(SIGKILL);
  REQUIRE(first->wait(10s) == 128 + SIGKILL);
  CHECK(fs::exists(dir.file("fp.db.lock")));
  auto next = start_serve(dir, "serve-3.log");
  CHECK(next->running());
  CHECK(read_file(dir.file("fp.db.lock"))
            .find("fp-coordinator serve, pid " + std::to_string(next->pid())) == 0);
  next->signal(SIGTERM);
  CHECK(next->wait(10s) == 0);
}

TEST_CASE("a start refused at its bind stores no campaign and writes no key pair",
          "[processes][faults]") {
  // The campaign a start makes may supersede others, and its new key pair would be handed
  // out: neither happens for a start that cannot serve.
  TempDir dir("boundfail");
  register_model(dir, 0.5);
  zmq::context_t context(1);
  zmq::socket_t holder(context, zmq::socket_type::router);
  holder.bind("tcp://127.0.0.1:*");
  const std::string taken = holder.get(zmq::sockopt::last_endpoint);
  write_config(dir, taken, 100, {"classes=0+9"});
  const std::string key = dir.file("keys/coordinator");
  ChildProcess refused({kCoordinator, "serve", "-c", dir.file("fp.toml"), "--key", key},
                       dir.file("refused.log"));
  const auto code = refused.wait(30s);
  INFO(read_file(dir.file("refused.log")));
  CHECK(code == 1);
  CHECK_THAT(read_file(dir.file("refused.log")), Catch::Contains("Address already in use"));
  CHECK_FALSE(fs::exists(key + ".pub"));
  CHECK_FALSE(fs::exists(key + ".key"));
  {
    auto store = store::Store::open(dir.file("fp.db"));
    REQUIRE(store.ok());
    CHECK((*store)->campaigns()->empty());
  }
  // The port free, the same start serves: the campaign and the key pair made then.
  holder.close();
  ChildProcess serve({kCoordinator, "serve", "-c", dir.file("fp.toml"), "--key", key,
                      "--endpoint-file", dir.file("endpoint")},
                     dir.file("serve.log"));
  INFO(read_file(dir.file("serve.log")));
  REQUIRE(wait_until([&] { return fs::exists(dir.file("endpoint")); }, 60s));
  CHECK(fs::exists(key + ".pub"));
  CHECK(fs::exists(key + ".key"));
  serve.signal(SIGTERM);
  CHECK(serve.wait(10s) == 0);
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  CHECK((*store)->campaigns()->size() == 1);
}

TEST_CASE("a campaign whose model file is gone or damaged is refused before serving",
          "[processes][faults]") {
  TempDir dir("badmodel");
  auto [sha, size] = register_model(dir, 0.5);
  write_config(dir, "tcp://127.0.0.1:*", 100, {"classes=0+9"});
  const std::string file = dir.file("models/" + sha + ".fpm");
  const std::string good = read_file(file);
  auto serve_log = [&](const std::string& name) {
    ChildProcess p({kCoordinator, "serve", "--plain", "-c", dir.file("fp.toml")}, dir.file(name));
    const auto code = p.wait(30s);
    REQUIRE(code.has_value());
    CHECK(*code == 1);
    return read_file(dir.file(name));
  };
  // One byte changed, the size the same: every device's download would fail its check.
  std::string damaged = good;
  damaged[damaged.size() / 2] ^= 0x5a;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << damaged;
  const std::string changed = serve_log("changed.log");
  INFO(changed);
  CHECK(changed.find("campaign 'faults' cannot be served: model file " + file +
                     " holds other bytes than model " + sha.substr(0, 12) + " (SHA-256 ") !=
        std::string::npos);
  CHECK(changed.find("register its model again") != std::string::npos);
  fs::remove(file);
  const std::string gone = serve_log("gone.log");
  INFO(gone);
  CHECK(gone.find("campaign 'faults' cannot be served: model file " + file + ": ") !=
        std::string::npos);
  // Put back, it serves.
  std::ofstream(file, std::ios::binary | std::ios::trunc) << good;
  auto serve = start_serve(dir, "serve.log");
  CHECK(serve->running());
  serve->signal(SIGTERM);
  const auto stopped = serve->wait(10s);
  // Once (5 Dec, a fresh clone's loaded full suite) it was still running 10 s after its
  // SIGTERM, unexplained, its log not shown: shown now.
  INFO(read_file(dir.file("serve.log")));
  if (!stopped) serve->signal(SIGKILL);
  CHECK(stopped == 0);
}
