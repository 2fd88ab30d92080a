// `fp-sim run --http-port`: the README's main job. The real program prints a dashboard
// URL, the URL answers with the campaign's agents and results, the dashboard keeps
// serving after the campaign until Ctrl-C, and a port already taken is a clear error. Also
// what the real program records of its command-line overrides.
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>
#include <vector>

#include "child_process.h"
#include "http_client.h"
#include "process_fixture.h"
#include "store/run_store.h"
#include "store/store.h"
#include "temp_dir.h"
#include "test_paths.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using fp::testing::ChildProcess;
using fp::testing::kSim;
using fp::testing::TempDir;
using nlohmann::json;

namespace {

const char* kDashboardScenario = R"(
name = "dash"
seed = 4
[data]
general_samples = 1000
[partition]
individuals = 6
samples = 60
disjoint = false
[general]
width_mult = 0.25
threads = 1
[baselines]
methods = ["finetune"]
finetune_epochs = 1
[hosting]
workers = 2
heartbeat_ms = 200
)";

// Waits until the log contains `pattern`; returns the first match's text and groups
// (empty if the line never came).
std::vector<std::string> wait_for(const std::string& log, const std::regex& pattern,
                                  ChildProcess& child, std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    const std::string text = fp::testing::read_file(log);
    std::smatch m;
    if (std::regex_search(text, m, pattern)) return {m.begin(), m.end()};
    if (child.wait(0ms)) break;  // exited: the line will not come
    std::this_thread::sleep_for(100ms);
  }
  return {};
}

json get_json(uint16_t port, const std::string& target) {
  auto r = fp::testing::http_get(port, target);
  INFO(target << " -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("fp-sim run --http-port prints a URL that shows the campaign's agents and results",
          "[sim][dashboard]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario = dir.file("dash.toml");
  std::ofstream(scenario) << kDashboardScenario;
  const std::string log = dir.file("fp-sim.out");
  ChildProcess sim({kSim, "run", scenario, "--out", dir.file("run"), "--http-port", "0"}, log);
  REQUIRE(sim.started());

  auto url = wait_for(log, std::regex(R"(dashboard: http://127\.0\.0\.1:(\d+)/)"), sim, 60s);
  INFO(fp::testing::read_file(log));
  REQUIRE(!url.empty());
  const auto port = static_cast<uint16_t>(std::stoi(url[1]));

  // The campaign ends, and the dashboard is still there to look at.
  REQUIRE(!wait_for(log, std::regex("still serving"), sim, 240s).empty());
  json summary = get_json(port, "/api/summary");
  CHECK(summary["agents"]["total"] == 6);
  CHECK(summary["agents"]["done"] == 6);
  CHECK(summary["campaigns"]["done"] == 1);

  json campaigns = get_json(port, "/api/campaigns")["campaigns"];
  REQUIRE(campaigns.size() == 1);
  json results = get_json(port, "/api/campaigns/" + campaigns[0]["id"].dump());
  REQUIRE(results["individuals"].size() == 6);
  for (const auto& row : results["individuals"]) {
    INFO(row.dump());
    CHECK(row["task_status"] == "done");
    CHECK(row["general"].is_number());
    CHECK(row["fine_prune"].is_number());
    CHECK(row["finetune"].is_number());
  }
  auto page = fp::testing::http_get(port, "/");
  CHECK(page.status == 200);
  CHECK(page.body.find("<html") != std::string::npos);

  sim.signal(SIGINT);
  auto rc = sim.wait(20s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  CHECK(fp::testing::http_get(port, "/api/summary").status == 0);  // stopped serving
}

TEST_CASE("fp-sim run --http-port on a taken port fails before training, naming the port",
          "[sim][dashboard]") {
  REQUIRE(fs::exists(kSim));
  // Hold a loopback port.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));

  TempDir dir;
  const std::string scenario = dir.file("dash.toml");
  std::ofstream(scenario) << kDashboardScenario;
  const std::string log = dir.file("fp-sim.out");
  ChildProcess sim({kSim, "run", scenario, "--out", dir.file("run"), "--http-port", port}, log);
  auto rc = sim.wait(60s);
  ::close(fd);
  REQUIRE(rc);
  CHECK(*rc != 0);
  std::string out = fp::testing::read_file(log);
  INFO(out);
  CHECK(out.find(port) != std::string::npos);
  CHECK(out.find("general cnn") == std::string::npos);  // stopped before training
}

TEST_CASE("a second Ctrl-C ends fp-sim run at once even while a general model trains", "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario = dir.file("long.toml");
  // Hundreds of epochs: minutes of training, one step the run cannot look up from.
  std::ofstream(scenario) << "name = \"long\"\n[data]\ngeneral_samples = 2000\n[general]\n"
                             "epochs = 500\nwidth_mult = 0.25\nthreads = 1\n";
  const std::string log = dir.file("fp-sim.out");
  ChildProcess sim({kSim, "run", scenario, "--out", dir.file("run")}, log);
  REQUIRE(sim.started());
  INFO(fp::testing::read_file(log));
  REQUIRE(!wait_for(log, std::regex(R"(scenario long .* run \d+ in)"), sim, 60s).empty());
  // Training stops at its next batch, at once; recording the stop is held up here (this test
  // holds the database's write lock, as a slow disk or another writer could), so that a
  // second Ctrl-C has something to cut short.
  sqlite3* holder = nullptr;
  REQUIRE(sqlite3_open((dir.file("run") + "/fp.db").c_str(), &holder) == SQLITE_OK);
  REQUIRE(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  std::this_thread::sleep_for(500ms);  // into the training
  sim.signal(SIGINT);
  std::this_thread::sleep_for(1s);  // a second Ctrl-C, not the first delivered twice
  sim.signal(SIGINT);
  auto rc = sim.wait(10s);
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  REQUIRE(rc);
  CHECK(*rc == 128 + SIGINT);
  // Ended by the signal itself: nothing recorded or printed after it.
  CHECK_THAT(fp::testing::read_file(log), !Catch::Contains("run interrupted"));
}

TEST_CASE("fp-sim run records the flags that overrode its scenario with the run", "[sim]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario = dir.file("dash.toml");
  std::ofstream(scenario) << kDashboardScenario;
  const std::string log = dir.file("fp-sim.out");
  ChildProcess sim({kSim, "run", scenario, "--out", dir.file("run"), "--quiet", "--seed", "9",
                    "--individuals", "3", "--workers", "1", "--methods", "none"},
                   log);
  REQUIRE(sim.started());
  auto rc = sim.wait(240s);
  INFO(fp::testing::read_file(log));
  REQUIRE(rc);
  REQUIRE(*rc == 0);

  auto db = fp::store::Store::open(dir.file("run") + "/fp.db");
  REQUIRE(db.ok());
  auto runs = fp::store::RunStore::open(**db);
  REQUIRE(runs.ok());
  auto record = runs->run(1);
  REQUIRE(record.ok());
  CHECK(record->seed == 9);
  // The recorded text: the flags, as keys, atop the file as it was.
  const std::string note =
      "# fp-sim run overrode, after reading this file:\n#   seed = 9\n"
      "#   partition.individuals = 3\n#   hosting.workers = 1\n#   baselines.methods = []\n";
  CHECK(record->scenario_toml == note + kDashboardScenario);
  CHECK(fp::testing::read_file(dir.file("run") + "/scenario.toml") == record->scenario_toml);
  CHECK(json::parse(record->stats_json)["overrides"] ==
        json({"seed = 9", "partition.individuals = 3", "hosting.workers = 1",
              "baselines.methods = []"}));
  // And the machine it ran on (floating-point results depend on it).
  const std::string machine = json::parse(record->stats_json)["machine"];
  CHECK(machine.find(" cores") != std::string::npos);
  // And the run did what they say: 3 individuals, Fine-Pruning alone.
  auto rows = (*db)->telemetry();
  REQUIRE(rows.ok());
  CHECK(rows->size() == 3);
  for (const auto& r : *rows) CHECK(r.method == "fine_prune");
}

TEST_CASE("fp-sim run whose every task failed exits 1 with the first failure", "[sim]") {
  // Every hidden layer protected (the output layer is not pruned by default): every device
  // refuses its task. The run ended "done" with exit 0, and a script took the empty table for
  // a result.
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario = dir.file("refused.toml");
  std::ofstream(scenario) << kDashboardScenario
                          << "[fineprune]\nprotected_layers = [\"conv1\", \"conv2\", \"fc1\"]\n";
  const std::string log = dir.file("fp-sim.out");
  ChildProcess sim({kSim, "run", scenario, "--out", dir.file("run"), "--quiet", "--individuals",
                    "2", "--methods", "none"},
                   log);
  REQUIRE(sim.started());
  auto rc = sim.wait(240s);
  INFO(fp::testing::read_file(log));
  REQUIRE(rc);
  CHECK(*rc == 1);
  CHECK_THAT(fp::testing::read_file(log),
             Catch::Contains("every one of the 2 task(s) failed; the first: Invalid argument: "
                             "prune: every layer is protected"));
}

TEST_CASE(
    "fp-sim run interrupted mid-campaign says how to go on, and --resume finishes it; "
    "a failed task runs again with --retry-failed",
    "[sim][resume]") {
  REQUIRE(fs::exists(kSim));
  TempDir dir;
  const std::string scenario = dir.file("dash.toml");
  std::ofstream(scenario) << kDashboardScenario;
  const std::string out = dir.file("run"), log = dir.file("fp-sim.out");
  ChildProcess sim({kSim, "run", scenario, "--out", out, "--individuals", "60"}, log);
  REQUIRE(sim.started());
  INFO(fp::testing::read_file(log));
  // The database exists once the coordinator listens; Ctrl-C once two tasks are done.
  REQUIRE(!wait_for(log, std::regex("coordinator on "), sim, 120s).empty());
  auto db = fp::store::Store::open(out + "/fp.db");
  REQUIRE(db.ok());
  auto until = std::chrono::steady_clock::now() + 120s;
  int64_t done = 0;
  while (done < 2 && std::chrono::steady_clock::now() < until) {
    auto tasks = (*db)->tasks();
    REQUIRE(tasks.ok());
    done = std::count_if(tasks->begin(), tasks->end(),
                         [](const auto& t) { return t.status == "done"; });
    std::this_thread::sleep_for(10ms);
  }
  // Ctrl-C, and at once a SIGTERM: one stop delivered twice, as `timeout` signals the
  // process and then its process group. It used to end the run at once, unrecorded.
  sim.signal(SIGINT);
  sim.signal(SIGTERM);
  auto rc = sim.wait(30s);
  REQUIRE(rc);
  CHECK(*rc == 130);
  CHECK_THAT(fp::testing::read_file(log),
             Catch::Contains("run interrupted: interrupted before every task finished") &&
                 Catch::Contains("fp-sim run --resume --out " + out));

  const std::string again_log = dir.file("again.out");
  ChildProcess again({kSim, "run", "--resume", "--out", out, "--quiet"}, again_log);
  auto again_rc = again.wait(240s);
  INFO(fp::testing::read_file(again_log));
  REQUIRE(again_rc);
  CHECK(*again_rc == 0);
  auto tasks = (*db)->tasks();
  REQUIRE(tasks.ok());
  CHECK(tasks->size() == 60);
  for (const auto& t : *tasks) CHECK(t.status == "done");
  auto rows = (*db)->telemetry();
  REQUIRE(rows.ok());
  CHECK(rows->size() == 120);  // fine_prune and finetune, once each

  // Done now: resuming it, or retrying its failed tasks (none), is refused saying why.
  const std::vector<std::pair<std::vector<std::string>, std::string>> refusals = {
      {{"--resume"}, "is done: nothing to resume"},
      {{"--retry-failed"}, "--retry-failed goes with --resume --out RUN_FOLDER"},
      {{"--resume", "--retry-failed"}, "is done and none of its tasks failed: nothing to retry"}};
  for (const auto& [flags, why] : refusals) {
    std::vector<std::string> args = {kSim, "run", "--out", out, "--quiet"};
    args.insert(args.end(), flags.begin(), flags.end());
    const std::string refused_log = dir.file("refused.out");
    ChildProcess refused(args, refused_log);
    auto refused_rc = refused.wait(60s);
    INFO(fp::testing::read_file(refused_log));
    REQUIRE(refused_rc);
    CHECK(*refused_rc == 2);
    CHECK_THAT(fp::testing::read_file(refused_log), Catch::Contains(why));
  }

  // A task failed for good (rows gone, as a device out of memory leaves it): `list` says how
  // to run it again, and that command does.
  const int64_t lost = tasks->front().id;
  REQUIRE((*db)->db().exec("DELETE FROM telemetry WHERE task_id = " + std::to_string(lost)).ok());
  REQUIRE((*db)
              ->db()
              .exec("UPDATE tasks SET status = 'failed', error = 'out of memory' WHERE id = " +
                    std::to_string(lost))
              .ok());
  const std::string list_log = dir.file("list.out");
  ChildProcess list({kSim, "list", "--db", out}, list_log);
  REQUIRE(list.wait(60s) == 0);
  CHECK_THAT(fp::testing::read_file(list_log),
             Catch::Contains("run 1 has 1 failed task(s): 'fp-sim run --resume --retry-failed "
                             "--out " +
                             out + "' runs them again"));
  const std::string retry_log = dir.file("retry.out");
  ChildProcess retry({kSim, "run", "--resume", "--retry-failed", "--out", out, "--quiet"},
                     retry_log);
  auto retry_rc = retry.wait(240s);
  INFO(fp::testing::read_file(retry_log));
  REQUIRE(retry_rc);
  CHECK(*retry_rc == 0);
  auto after = (*db)->tasks();
  REQUIRE(after.ok());
  for (const auto& t : *after) CHECK(t.status == "done");
  CHECK((*db)->telemetry()->size() == 120);
}
