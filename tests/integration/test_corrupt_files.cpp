// Damaged files on disk against the real programs: an SQLite database truncated,
// overwritten with garbage or replaced by something else (another program's database too),
// given to fp-coordinator and fp-sim, and one that does not exist given to the commands that
// only read; a damaged seed_run.json given to `fp-sim pool`; and a damaged model artifact in an
// agent's model cache. Each must end in a clear error naming the file (or, for the cache, a fresh
// download), never a crash, and a damaged database must be left exactly as it was.
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <random>

#include "child_process.h"
#include "net_fixture.h"
#include "older_database.h"
#include "process_fixture.h"
#include "store/run_store.h"
#include "store/sqlite.h"
#include "test_paths.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A database with a model, a campaign, a task and enough telemetry for several pages.
std::string populated_database(const TempDir& dir) {
  const std::string path = dir.file("good.db");
  auto store = store::Store::open(path);
  REQUIRE(store.ok());
  auto& s = **store;
  const std::string sha(64, 'c');
  REQUIRE(s.put_model({sha, 1000, R"({"arch":"cnn"})", "{}", "models/c.fpm", 1.0}).ok());
  store::CampaignRecord c;
  c.name = "kept";
  c.model_sha256 = sha;
  c.dataset = "fsdd";
  c.prune_config_json = "{}";
  c.created_at = 2.0;
  auto campaign = s.create_campaign(c);
  REQUIRE(campaign.ok());
  auto task = s.add_task(*campaign, "speaker=jackson");
  REQUIRE(task.ok());
  std::vector<store::TelemetryRecord> rows;
  for (int i = 0; i < 400; ++i) {
    store::TelemetryRecord r;
    r.idempotency_key = "k" + std::to_string(i);
    r.task_id = *task;
    r.campaign_id = *campaign;
    r.agent_id = "agent-1";
    r.method = "fine_prune-" + std::to_string(i);  // one row per (task, method)
    r.individual = "speaker=jackson";
    r.layer_sparsity_json = std::string(200, '[') + std::string(200, ']');
    r.curve_json = "[]";
    rows.push_back(r);
  }
  REQUIRE(s.insert_telemetry(rows).ok());
  return path;
}

struct Damage {
  const char* name;
  std::string (*apply)(const std::string& good);
};

const Damage kDamages[] = {
    {"truncated to half", [](const std::string& g) { return g.substr(0, g.size() / 2); }},
    {"truncated inside the header", [](const std::string& g) { return g.substr(0, 60); }},
    {"pages overwritten with garbage",
     [](const std::string& g) {
       std::string b = g;
       std::mt19937 rng(3);
       for (size_t i = 4096; i < b.size(); ++i) b[i] = static_cast<char>(rng());
       return b;
     }},
    {"header overwritten with garbage",
     [](const std::string& g) {
       std::string b = g;
       std::mt19937 rng(4);
       for (size_t i = 0; i < 100; ++i) b[i] = static_cast<char>(rng());
       return b;
     }},
    {"not a database", [](const std::string&) { return std::string(5000, 'x'); }},
};

// A sound SQLite database of another program: tables, no fineprune schema version.
std::string foreign_database(const TempDir& dir) {
  const std::string path = dir.file("foreign.db");
  auto db = sql::Database::open(path);
  REQUIRE(db.ok());
  REQUIRE((*db)
              ->exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); "
                     "INSERT INTO notes (text) VALUES ('keep me')")
              .ok());
  db->reset();
  return read_file(path);
}

// Runs `args` for at most 30 s: its exit code (none when it did not end) and what it printed.
std::pair<std::optional<int>, std::string> run_logged(const std::vector<std::string>& args,
                                                      const std::string& log) {
  ChildProcess p(args, log);
  const auto code = p.wait(30s);
  return {code, read_file(log)};
}

}  // namespace

TEST_CASE("a damaged SQLite file is a clear error for fp-coordinator and fp-sim, left as it is",
          "[processes][faults]") {
  TempDir dir("corruptdb");
  const std::string good = read_file(populated_database(dir));
  REQUIRE(good.size() > 8 * 4096);
  std::vector<std::pair<std::string, std::string>> cases;  // what, the file's bytes
  for (const auto& damage : kDamages) cases.emplace_back(damage.name, damage.apply(good));
  // Sound, but not fineprune's: its tables are not joined by fineprune's.
  cases.emplace_back("another program's database", foreign_database(dir));
  int runs = 0;
  for (const auto& [name, bytes] : cases) {
    const std::string path = dir.file("damaged.db");
    const std::vector<std::vector<std::string>> commands = {
        {kCoordinator, "status", "--db", path},
        {kCoordinator, "serve", "--plain", "--db", path, "--endpoint", "tcp://127.0.0.1:*",
         "--exit-when-done"},
        {kSim, "list", "--db", path},
    };
    for (const auto& args : commands) {
      write_bytes(path, bytes);
      fs::remove(path + "-wal");
      fs::remove(path + "-shm");
      ChildProcess p(args, dir.file("out.log"));
      auto code = p.wait(30s);
      const std::string log = read_file(dir.file("out.log"));
      INFO(name << ": " << args[0] << " " << args[1] << "\n" << log);
      REQUIRE(code.has_value());
      CHECK(*code >= 1);
      CHECK(*code < 128);  // an exit, not a signal
      CHECK(log.find(path) != std::string::npos);
      CHECK(read_file(path) == bytes);  // nothing written over what is left
      ++runs;
    }
  }
  CHECK(runs == 18);
  // The undamaged file still opens: the checks do not refuse good databases.
  auto store = store::Store::open(dir.file("good.db"));
  REQUIRE(store.ok());
  CHECK(*(*store)->telemetry_count() == 400);
}

TEST_CASE("fp-sim pool pools report folders by their seed_run.json and names a damaged one",
          "[processes][faults]") {
  TempDir dir("poolfiles");
  // Two seeds' reports, written as the format documents them (report/seed_run_file.h):
  // individual i gains i points on seed 1, i + 2 on seed 2.
  for (int seed : {1, 2}) {
    nlohmann::json individuals = nlohmann::json::array();
    for (int i = 0; i < 6; ++i) {
      const nlohmann::json fine_prune = {{"accuracy", 0.5 + 0.01 * (i + 2 * (seed - 1))},
                                         {"sparsity", 0.1},
                                         {"macs_effective", 90},
                                         {"wall_seconds", 1.0},
                                         {"compute_macs", 1000}};
      individuals.push_back({{"individual", "ind-" + std::to_string(i)},
                             {"general", 0.5},
                             {"eval_samples", 100},
                             {"macs_dense", 100},
                             {"methods", {{"fine_prune", fine_prune}}}});
    }
    const nlohmann::json run = {
        {"format", "fineprune-seed-run"},
        {"version", 1},
        {"seed", std::to_string(seed)},
        {"settings",
         seed == 1 ? nlohmann::json{"partition.individuals = 6"} : nlohmann::json::array()},
        {"campaigns", {{{"variant", "default"}, {"individuals", individuals}}}}};
    const std::string folder = dir.file("report" + std::to_string(seed));
    fs::create_directories(folder);
    write_bytes(folder + "/seed_run.json", run.dump());
  }
  ChildProcess ok({kSim, "pool", "--out", dir.file("pooled"), dir.file("report1"),
                   dir.file("report2/seed_run.json")},
                  dir.file("ok.log"));
  auto code = ok.wait(30s);
  INFO(read_file(dir.file("ok.log")));
  REQUIRE(code == 0);
  const std::string md = read_file(dir.file("pooled/pooled_comparisons.md"));
  CHECK_THAT(md, Catch::Contains("Pooled over: report1, report2"));
  // Mean gain (2.5 + 4.5) / 2 points over 12 individuals; seed 1 +2.5, seed 2 +4.5.
  CHECK_THAT(md, Catch::Contains("| 12 |"));
  CHECK_THAT(md, Catch::Contains("| 1:+2.5 2:+4.5 |"));
  // Runs of other settings pool, said so.
  CHECK_THAT(read_file(dir.file("ok.log")),
             Catch::Contains("warning: report2 ran with the scenario's own settings, report1 "
                             "with partition.individuals = 6: pooled all the same"));

  // `fp-sim pool` refusing two reports: exit 1, its message, nothing written.
  auto refused = [&](const std::string& second, const std::string& out, const std::string& says) {
    ChildProcess pool({kSim, "pool", "--out", dir.file(out), dir.file("report1"), second},
                      dir.file(out + ".log"));
    const auto exit_code = pool.wait(30s);
    const std::string log = read_file(dir.file(out + ".log"));
    INFO(log);
    REQUIRE(exit_code.has_value());
    CHECK(*exit_code == 1);
    CHECK_THAT(log, Catch::Contains(says));
    CHECK_FALSE(fs::exists(dir.file(out)));
  };

  // A damaged file: an error naming it and what is wrong.
  write_bytes(dir.file("report2/seed_run.json"), "{\"format\": \"fineprune-seed-run\"");
  refused(dir.file("report2"), "pooled2", dir.file("report2/seed_run.json") + ": not JSON");

  // A run that did not finish (its report says so) is refused, not pooled with its
  // individuals silently missing; files without a status (written before it) count as done.
  auto first = nlohmann::json::parse(read_file(dir.file("report1/seed_run.json")));
  first["seed"] = "3";
  first["status"] = "interrupted";
  fs::create_directories(dir.file("report3"));
  write_bytes(dir.file("report3/seed_run.json"), first.dump());
  refused(dir.file("report3"), "pooled3",
          dir.file("report3") + ": its run (seed 3) was interrupted, not done");

  // A run folder holding its fp.db and a report's seed_run.json written into it before a later
  // run there (`fp-sim run --fresh` keeps it): the run's own store is read, not the stale
  // report, which was pooled in the run's place without a word.
  fs::create_directories(dir.file("run8"));
  {
    auto s = store::Store::open(dir.file("run8/fp.db"));
    REQUIRE(s.ok());
    auto runs = store::RunStore::open(**s);
    REQUIRE(runs.ok());
    store::RunRecord r;
    r.scenario = "study";
    r.seed = 8;
    r.status = "interrupted";
    REQUIRE(runs->add_run(r).ok());
  }
  first["seed"] = "9";
  first["status"] = "done";
  write_bytes(dir.file("run8/seed_run.json"), first.dump());
  refused(dir.file("run8"), "pooled8",
          dir.file("run8") + ": its run (seed 8) was interrupted, not done");

  // A run holding no evaluated individual (every task failed) was named in the table's
  // "pooled over" and added nothing to it.
  first["status"] = "done";
  first["seed"] = "7";
  first["campaigns"][0]["individuals"] = nlohmann::json::array();
  fs::create_directories(dir.file("report7"));
  write_bytes(dir.file("report7/seed_run.json"), first.dump());
  refused(dir.file("report7"), "pooled7",
          dir.file("report7") + ": its run (seed 7) holds no evaluated individual");

  // Runs of two scenarios are two experiments: their variants' names say nothing in common.
  // Files without a scenario (written before it was kept) pool as before.
  auto of = [&](const std::string& scenario, const std::string& seed, const std::string& name) {
    auto doc = nlohmann::json::parse(read_file(dir.file("report1/seed_run.json")));
    doc["seed"] = seed;
    doc["scenario"] = scenario;
    fs::create_directories(dir.file(name));
    write_bytes(dir.file(name + "/seed_run.json"), doc.dump());
  };
  of("study-dev", "4", "report4");
  of("study-test", "5", "report5");
  {
    ChildProcess two(
        {kSim, "pool", "--out", dir.file("pooled5"), dir.file("report4"), dir.file("report5")},
        dir.file("pooled5.log"));
    REQUIRE(two.wait(30s) == 1);
    CHECK_THAT(read_file(dir.file("pooled5.log")),
               Catch::Contains("is a run of scenario 'study-test', report4 of 'study-dev'"));
    CHECK_FALSE(fs::exists(dir.file("pooled5")));
  }
  // A --versus-variant no run holds would leave the pairing out without a word.
  ChildProcess versus({kSim, "pool", "--out", dir.file("pooled6"), "--versus-variant", "nosuch",
                       dir.file("report1")},
                      dir.file("pooled6.log"));
  REQUIRE(versus.wait(30s) == 1);
  CHECK_THAT(read_file(dir.file("pooled6.log")),
             Catch::Contains("--versus-variant 'nosuch': no run holds that variant (they hold: "
                             "default)"));
  CHECK_FALSE(fs::exists(dir.file("pooled6")));
}

TEST_CASE("commands that only read leave an older database's file as it is", "[processes]") {
  // A database of schema 1 (an older fineprune's): status, export and report read a migrated
  // copy; the file stays schema 1 for the program that wrote it.
  TempDir dir("olddb");
  const std::string path = dir.file("old.db");
  fp::testing::write_schema1_database(path);
  const std::string before = read_file(path);
  // report has nothing to write (no campaign) and says so, from the copy too.
  const std::vector<std::pair<std::vector<std::string>, int>> commands = {
      {{kCoordinator, "status", "--db", path}, 0},
      {{kCoordinator, "export", "--db", path}, 0},
      {{kCoordinator, "report", "--db", path, "--out", dir.file("report")}, 1},
  };
  for (const auto& [args, expected] : commands) {
    ChildProcess p(args, dir.file("out.log"));
    auto code = p.wait(30s);
    INFO(args[1] << "\n" << read_file(dir.file("out.log")));
    CHECK(code == expected);
    CHECK(read_file(path) == before);
  }
  ChildProcess status({kCoordinator, "status", "--db", path}, dir.file("status.log"));
  REQUIRE(status.wait(30s) == 0);
  CHECK_THAT(read_file(dir.file("status.log")), Catch::Contains("old-phone"));
  // fp-sim's readers on an fp-coordinator database, older or current: they say it holds no
  // run and leave it as it is (they added fp-sim's tables to it, and migrated an older one).
  const std::string current = dir.file("current.db");
  REQUIRE(fp::store::Store::open(current).ok());
  for (const std::string& db : {path, current}) {
    const std::string bytes = read_file(db);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{kSim, "list", "--db", db},
          std::vector<std::string>{kSim, "export", "--db", db}}) {
      const auto [code, log] = run_logged(args, dir.file("sim.log"));
      INFO(db << " " << args[1] << "\n" << log);
      CHECK(code == 1);
      CHECK_THAT(log, Catch::Contains("no simulation run in"));
      CHECK(read_file(db) == bytes);
    }
  }
}

TEST_CASE("commands that only read do not make a database that does not exist",
          "[processes][faults]") {
  TempDir dir("nodb");
  const std::string path = dir.file("typo.db");
  const std::vector<std::vector<std::string>> commands = {
      {kCoordinator, "status", "--db", path},
      {kCoordinator, "export", "--db", path},
      {kCoordinator, "report", "--db", path, "--out", dir.file("report")},
      {kCoordinator, "revoke", "--db", path, "--name", "phone-1"},
      {kCoordinator, "enroll", "--db", path, "--list"},
      {kCoordinator, "dashboard", "--db", path},
      {kSim, "list", "--db", path},
      {kSim, "report", "--db", path},
  };
  for (const auto& args : commands) {
    const auto [code, log] = run_logged(args, dir.file("out.log"));
    INFO(args[0] << " " << args[1] << "\n" << log);
    CHECK(code == 1);
    CHECK(log.find(path) != std::string::npos);
    CHECK_FALSE(fs::exists(path));
  }
  // Nor write a schema into an empty file (SQLite takes one for a new database).
  { std::ofstream(path).flush(); }
  for (size_t i = 0; i < 6; ++i) {  // fp-coordinator's
    const auto [code, log] = run_logged(commands[i], dir.file("empty.log"));
    INFO(commands[i][1] << "\n" << log);
    CHECK(code == 1);
    CHECK_THAT(log, Catch::Contains("database " + path + " is an empty file (0 bytes)"));
    CHECK(fs::file_size(path) == 0);
  }
}

TEST_CASE("a FIFO named as a model is refused at once, not waited on", "[processes][faults]") {
  // `fp-agent info --model x.fpm` or `fp-coordinator register x.fpm` on a FIFO waited for a
  // writer for ever.
  TempDir dir("fifo");
  const std::string fifo = dir.file("x.fpm");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::vector<std::vector<std::string>> commands = {
      {kAgent, "info", "--model", fifo},
      {kCoordinator, "register", "--db", dir.file("fp.db"), "--models-dir", dir.file("models"),
       fifo},
  };
  for (const auto& args : commands) {
    const auto [code, log] = run_logged(args, dir.file("out.log"));
    INFO(args[0] << " " << args[1] << "\n" << log);
    REQUIRE(code.has_value());
    CHECK(*code != 0);
    CHECK_THAT(log, Catch::Contains(fifo) && Catch::Contains("not a regular file"));
  }
}
