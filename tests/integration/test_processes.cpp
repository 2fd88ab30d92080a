// Real processes on loopback: fp-coordinator train/serve/status/export and three
// fp-agent processes running a small Fine-Pruning campaign end to end, with every
// byte the agents send captured and inspected; a wrong protocol version, malformed
// frames and SIGTERM against the real coordinator process.
#include <algorithm>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <unordered_set>

#include "agent/local_data.h"
#include "child_process.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "net_fixture.h"
#include "process_fixture.h"
#include "protocol/validate.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "prune/shift_detector.h"
#include "store/serve_lock.h"
#include "tcp_tap.h"
#include "test_paths.h"
#include "util/sha256.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;

namespace {

int port_of(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}

std::string config_text(const TempDir& dir, bool campaign) {
  std::string text = "[server]\nendpoint = \"tcp://127.0.0.1:*\"\ndatabase = \"" +
                     dir.file("fp.db") + "\"\nmodels_dir = \"" + dir.file("models") +
                     "\"\nheartbeat_ms = 200\nliveness = 10\n"
                     "plain = true  # the tap reads the traffic: no encryption\n\n"
                     "[train]\ndataset = \"fashion-mnist\"\narch = \"cnn\"\nwidth_mult = 0.5\n"
                     "epochs = 1\nlimit = 3000\nthreads = 1\n";
  if (campaign) {
    text +=
        "\n[campaign]\nname = \"proc\"\ndataset = \"fashion-mnist\"\n"
        "individuals = [\"classes=0+9\", \"classes=1+7\", \"classes=3+8\"]\n"
        "baselines = [\"finetune\", \"svd\"]\nsweep = [0.25, 0.5, 0.75]\n"
        "select_sparsity = false  # a fixed target, checked below\n\n"
        "[campaign.prune]\ntarget_sparsity = 0.5\n"
        "class_spread_share = 0.34  # the shift detector, from the trained model's curve\n";
  }
  return text;
}

// Every 16-byte run of four float32 input values of the individual's samples (runs
// of one repeated value, such as zero padding, are left out as too common).
std::unordered_set<std::string> sample_windows(const Dataset& data) {
  std::unordered_set<std::string> windows;
  auto inputs = data.inputs.contiguous();
  const float* p = inputs.data_ptr<float>();
  int64_t n = inputs.numel();
  for (int64_t i = 0; i + 4 <= n; i += 4) {
    if (p[i] == p[i + 1] && p[i] == p[i + 2] && p[i] == p[i + 3]) continue;
    windows.insert(std::string(reinterpret_cast<const char*>(p + i), 16));
  }
  return windows;
}

bool contains_window(const std::string& stream, const std::unordered_set<std::string>& windows) {
  for (size_t i = 0; i + 16 <= stream.size(); ++i) {
    if (windows.count(stream.substr(i, 16))) return true;
  }
  return false;
}

// The model file an agent kept for this row's task (found by the task and individual
// its artifact records, not by file name).
std::string kept_file(const store::TelemetryRecord& row, const std::string& folder) {
  std::vector<std::string> found;
  if (fs::is_directory(folder)) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      ArtifactInfo info;
      auto model = load_model(entry.path().string(), &info);
      if (model.ok() && info.meta["task"] == std::to_string(row.task_id) &&
          info.meta["individual"] == row.individual)
        found.push_back(entry.path().string());
    }
  }
  INFO("kept models of task " << row.task_id << " in " << folder);
  REQUIRE(found.size() == 1);
  return found.front();
}

// Reported = real: the model the agent kept is the compact one (pruned units physically
// removed), and what SQLite holds for its Fine-Pruning row is what that model has,
// recomputed here: every layer keeps exactly the units the report calls active, its MACs
// per sample are the reported effective MACs, its parameters the reported compact
// parameters; and the reported sparsity meets the target within the weights of one
// unit, the largest, of the pruned layers.
void check_against_kept_model(const store::TelemetryRecord& row, const std::string& folder) {
  INFO(row.individual << " task " << row.task_id);
  const std::string file = kept_file(row, folder);
  auto loaded = load_model(file);
  REQUIRE(loaded.ok());
  ModelPtr model = *loaded;
  REQUIRE(model->spec().is_compact());
  auto layers = nlohmann::json::parse(row.layer_sparsity_json);
  const SparsityReport kept = measure_sparsity(*model);
  REQUIRE(layers.size() == kept.layers.size());
  int64_t reported_weights = 0, reported_zeroed = 0, largest_unit = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = kept.layers[i];
    INFO("layer " << l.name);
    CHECK(layers[i]["name"] == l.name);
    CHECK(layers[i]["active_units"] == l.units);  // the pruned ones are gone
    reported_weights += layers[i]["weights"].get<int64_t>();
    reported_zeroed += layers[i]["zeroed_weights"].get<int64_t>();
    largest_unit =
        std::max(largest_unit, layers[i]["weights"].get<int64_t>() /
                                   std::max<int64_t>(1, layers[i]["units"].get<int64_t>()));
  }
  CHECK(row.macs_effective == count_macs(*model).dense);
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();
  CHECK(row.compact_parameters == parameters);
  CHECK(row.model_bytes == static_cast<int64_t>(fs::file_size(file)));

  CHECK(row.sparsity == Approx(static_cast<double>(reported_zeroed) / reported_weights));
  const int64_t goal = std::llround(row.target_sparsity * reported_weights);
  CHECK(reported_zeroed >= goal);
  CHECK(reported_zeroed < goal + largest_unit);
}

// An untrained MLP (width 0.25) of Fashion-MNIST's shape with `classes` outputs, saved at
// `path` with `meta`: an artifact for the commands that read one.
void save_small_model(const std::string& path, int64_t classes = 10,
                      const std::map<std::string, std::string>& meta = {}) {
  ModelSpec spec;
  spec.arch = "mlp";
  spec.width_mult = 0.25;
  spec.num_classes = classes;
  auto model = build_model(spec);
  REQUIRE(model.ok());
  REQUIRE(save_model(**model, path, meta).ok());
}

}  // namespace

TEST_CASE("fp-coordinator and three fp-agent processes complete a campaign", "[processes]") {
  TempDir dir("proc");
  write(dir.file("fp.toml"), config_text(dir, true));
  {
    ChildProcess train({kCoordinator, "train", "-c", dir.file("fp.toml")}, dir.file("train.log"));
    REQUIRE(train.started());
    auto code = train.wait(300s);
    INFO(read_file(dir.file("train.log")));
    REQUIRE(code == 0);
    CHECK(std::regex_search(read_file(dir.file("train.log")), std::regex("\n[0-9a-f]{64}\n")));
  }
  unsetenv("OMP_WAIT_POLICY");  // the children inherit this process's environment
  unsetenv("OPENBLAS_NUM_THREADS");
  ChildProcess serve({kCoordinator, "serve", "-c", dir.file("fp.toml"), "--exit-when-done",
                      "--endpoint-file", dir.file("endpoint")},
                     dir.file("serve.log"));
  std::string endpoint = wait_for_file(dir.file("endpoint"));
  INFO(read_file(dir.file("serve.log")));
  REQUIRE(endpoint.rfind("tcp://127.0.0.1:", 0) == 0);
  TcpTap tap(port_of(endpoint));  // agents talk to the coordinator through the tap
  // It re-executed itself with LibTorch's OpenMP threads told to sleep, not spin, while
  // they wait (util/openmp_policy.h).
  std::string environment = "\n" + read_file("/proc/" + std::to_string(serve.pid()) + "/environ");
  std::replace(environment.begin(), environment.end(), '\0', '\n');
  CHECK(environment.find("\nOMP_WAIT_POLICY=PASSIVE\n") != std::string::npos);
  CHECK(environment.find("\nOPENBLAS_NUM_THREADS=1\n") != std::string::npos);
  // ... and under its own name, so that ps and pkill find it.
  CHECK(read_file("/proc/" + std::to_string(serve.pid()) + "/comm") == "fp-coordinator\n");

  const std::vector<std::string> individuals = {"classes=0+9", "classes=1+7", "classes=3+8"};
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (const auto& ind : individuals) {
    std::string id = "dev-" + ind.substr(8);
    agents.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{kAgent, "--id", id, "--coordinator",
                                 "tcp://127.0.0.1:" + std::to_string(tap.port()), "--dataset",
                                 "fashion-mnist", "--individual", ind, "--samples", "200",
                                 "--work-dir", dir.file("agent-" + id), "--finetune-epochs", "1",
                                 "--leave-on-goodbye", "--backoff-min-ms", "50", "--plain"},
        dir.file("agent-" + id + ".log")));
  }
  auto served = serve.wait(300s);
  REQUIRE(served == 0);
  for (size_t i = 0; i < agents.size(); ++i) {
    const std::string log = dir.file("agent-dev-" + individuals[i].substr(8) + ".log");
    INFO(read_file(log));
    CHECK(agents[i]->wait(30s) == 0);
    // Each device read its shift threshold from the curve `train` shipped in the model.
    CHECK(std::regex_search(read_file(log), std::regex("class spread 0\\.[0-9]+, [a-z-]+ shift "
                                                       "\\(threshold 0\\.[0-9]+\\)")));
  }

  // What SQLite holds.
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  auto rows = (*store)->telemetry();
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 9);
  std::map<std::string, std::set<std::string>> methods;
  for (const auto& r : *rows) {
    INFO(r.individual << " " << r.method);
    methods[r.individual].insert(r.method);
    CHECK(r.agent_id == "dev-" + r.individual.substr(8));
    CHECK(r.adaptation_samples == 100);
    CHECK(r.eval_samples == 100);
    REQUIRE(r.accuracy_before.has_value());
    REQUIRE(r.accuracy_after.has_value());
    CHECK(*r.accuracy_before > 0.2);  // a trained model, better than chance on 2 classes
    CHECK(*r.accuracy_after >= 0.0);
    CHECK(*r.accuracy_after <= 1.0);
    CHECK(r.macs_dense > 0);
    CHECK(r.peak_memory_bytes > 0);
    if (r.method == "fine_prune") {
      CHECK(r.target_sparsity == 0.5);
      check_against_kept_model(r, dir.file("agent-" + r.agent_id + "/personalized"));
      CHECK(r.macs_effective < r.macs_dense);
      auto layers = nlohmann::json::parse(r.layer_sparsity_json);
      CHECK(layers.size() >= 3);
      auto curve = nlohmann::json::parse(r.curve_json);
      REQUIRE(curve.size() == 3);
      CHECK(curve[2]["target"] == 0.75);
    }
  }
  for (const auto& ind : individuals) {
    CHECK(methods[ind] == std::set<std::string>{"fine_prune", "finetune", "svd"});
    std::string id = "dev-" + ind.substr(8);
    CHECK(fs::exists(dir.file("agent-" + id + "/personalized")));
  }
  auto tasks = (*store)->tasks();
  for (const auto& t : *tasks) CHECK(t.status == "done");

  // status and export read the same rows.
  ChildProcess status({kCoordinator, "status", "-c", dir.file("fp.toml")}, dir.file("status.log"));
  REQUIRE(status.wait(30s) == 0);
  std::string status_text = read_file(dir.file("status.log"));
  CHECK(status_text.find("campaign proc [done]") != std::string::npos);
  CHECK(status_text.find("tasks: 3 done, 0 failed") != std::string::npos);
  // Its agents finished their tasks and left: "done", as the dashboard says (was "offline").
  for (const auto& ind : individuals) {
    const std::string id = "dev-" + ind.substr(8);
    CHECK_THAT(status_text,
               Catch::Contains("  " + id + std::string(16 - id.size(), ' ') + " done "));
  }
  // The coordinator has stopped: status says so (agents online would be its last word) ...
  CHECK_THAT(status_text,
             Catch::StartsWith("database " + dir.file("fp.db") + ": no coordinator serves it now"));
  {  // ... and, while a process holds the database's lock, that it is served.
    auto held = store::lock_database(dir.file("fp.db"), "this test");
    REQUIRE(held.ok());
    ChildProcess served({kCoordinator, "status", "-c", dir.file("fp.toml"), "--events", "0"},
                        dir.file("status-served.log"));
    REQUIRE(served.wait(30s) == 0);
    CHECK_THAT(read_file(dir.file("status-served.log")),
               Catch::StartsWith("database " + dir.file("fp.db") + ": served now\n"));
  }
  for (const auto& ind : individuals) {
    std::string escaped = std::regex_replace(ind, std::regex("\\+"), "\\+");
    std::string classes = escaped.substr(8);
    CHECK(std::regex_search(status_text,
                            std::regex(escaped + " +dev-" + classes + " +fine_prune +[0-9.]+%")));
  }
  // An unknown campaign is an error naming the ones there are, not an empty listing.
  ChildProcess unknown({kCoordinator, "status", "-c", dir.file("fp.toml"), "--campaign", "nosuch"},
                       dir.file("status-unknown.log"));
  REQUIRE(unknown.wait(30s) == 1);
  CHECK_THAT(read_file(dir.file("status-unknown.log")),
             Catch::Contains("no campaign named 'nosuch' (the database holds: proc)"));
  ChildProcess unknown_export({kCoordinator, "export", "-c", dir.file("fp.toml"), "--campaign",
                               "nosuch", "--out", dir.file("nosuch.csv")},
                              dir.file("export-unknown.log"));
  REQUIRE(unknown_export.wait(30s) == 1);
  CHECK_THAT(read_file(dir.file("export-unknown.log")),
             Catch::Contains("no campaign named 'nosuch' (the database holds: proc)"));
  CHECK_FALSE(fs::exists(dir.file("nosuch.csv")));
  ChildProcess csv(
      {kCoordinator, "export", "-c", dir.file("fp.toml"), "--out", dir.file("exports/out.csv")},
      dir.file("export.log"));
  REQUIRE(csv.wait(30s) == 0);  // its folder made
  std::string csv_text = read_file(dir.file("exports/out.csv"));
  CHECK(std::count(csv_text.begin(), csv_text.end(), '\n') >= 10);
  CHECK(csv_text.rfind("campaign,task_id,agent_id,individual,method", 0) == 0);
  ChildProcess json({kCoordinator, "export", "-c", dir.file("fp.toml"), "--format", "json", "--out",
                     dir.file("out.json")},
                    dir.file("export2.log"));
  REQUIRE(json.wait(30s) == 0);
  auto exported = nlohmann::json::parse(read_file(dir.file("out.json")));
  CHECK(exported.size() == 9);

  // What the agents sent: only allowlisted, decodable telemetry messages, a few
  // kilobytes in all, with none of their samples' input values in it.
  auto up = tap.upstream();
  auto down = tap.downstream();
  REQUIRE(up.size() >= 3);
  std::map<proto::MessageType, int> seen;
  int reports = 0;  // alone or in a task's result
  std::string all_up;
  for (const auto& stream : up) {
    bool complete = false;
    for (const auto& m : zmtp_messages(stream, &complete)) {
      auto decoded = proto::decode(m, proto::kMaxAgentFrameBytes);
      REQUIRE(decoded.ok());
      CHECK(proto::validate_agent_message(*decoded).ok());
      ++seen[proto::type_of(*decoded)];
      if (auto* result = std::get_if<proto::TaskResult>(&*decoded)) {
        reports += static_cast<int>(result->reports.size());
      }
      reports += std::holds_alternative<proto::TelemetryReport>(*decoded);
    }
    CHECK(complete);
    CHECK(stream.size() < 64 * 1024);
    all_up += stream;
  }
  CHECK(seen[proto::MessageType::kHello] == 3);
  CHECK(reports >= 9);
  CHECK(seen[proto::MessageType::kTaskResult] >= 3);  // each task's reports and status in one
  CHECK(seen[proto::MessageType::kChunkRequest] >= 3);
  CHECK(seen.count(proto::MessageType::kChunk) == 0);

  agent::LocalDataConfig data;
  data.dataset = "fashion-mnist";
  data.samples = 200;
  for (const auto& ind : individuals) {
    auto local = agent::load_individual(data, ind);
    REQUIRE(local.ok());
    auto windows = sample_windows(local->adaptation);
    auto eval_windows = sample_windows(local->evaluation);
    windows.insert(eval_windows.begin(), eval_windows.end());
    REQUIRE(windows.size() > 1000);
    CHECK_FALSE(contains_window(all_up, windows));
  }
  // The tap is not blind: the model the coordinator served is in the other direction.
  auto models = (*store)->models();
  REQUIRE(models->size() == 1);
  std::string model_head = read_file(models->front().path).substr(0, 4096);
  std::string all_down;
  for (const auto& s : down) all_down += s;
  CHECK(all_down.find(model_head) != std::string::npos);

  // A new general model registered where the configured campaign names "latest": the next
  // serve of this configuration would be refused, which is said now (a service restarted
  // after a crash stayed down without a word before).
  const std::string campaign_model = models->front().sha256;
  save_small_model(dir.file("next.fpm"));
  ChildProcess next({kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("next.fpm")},
                    dir.file("register-next.log"));
  REQUIRE(next.wait(60s) == 0);
  CHECK_THAT(
      read_file(dir.file("register-next.log")),
      Catch::Contains("campaign 'proc' is stored with model " + campaign_model.substr(0, 12) +
                      ", and the configuration's [campaign] names \"latest\", now " +
                      sha256_file_hex(dir.file("next.fpm")).value().substr(0, 12)));
}

TEST_CASE("the coordinator process rejects bad peers and stops cleanly on SIGTERM", "[processes]") {
  TempDir dir("proc");
  write(dir.file("fp.toml"), config_text(dir, false));
  ChildProcess serve(
      {kCoordinator, "serve", "-c", dir.file("fp.toml"), "--endpoint-file", dir.file("endpoint")},
      dir.file("serve.log"));
  std::string endpoint = wait_for_file(dir.file("endpoint"));
  REQUIRE(!endpoint.empty());

  ChildProcess old_agent({kAgent, "--id", "old", "--coordinator", endpoint, "--dataset",
                          "fashion-mnist", "--individual", "classes=1+2", "--work-dir",
                          dir.file("agent-old"), "--protocol-version", "9", "--plain"},
                         dir.file("old.log"));
  CHECK(old_agent.wait(20s) == 3);
  CHECK(read_file(dir.file("old.log")).find("protocol version 9 is not supported") !=
        std::string::npos);

  zmq::context_t context(1);
  RawClient client(context, endpoint);
  client.send_bytes(random_bytes(4000, 11));
  CHECK(client.expect<proto::Error>().code == proto::ErrorCode::kMalformed);
  client.send_bytes(std::string(70000, 'x'));
  CHECK(client.expect<proto::Error>().code == proto::ErrorCode::kTooLarge);
  client.send(proto::Hello{"still-fine", proto::kProtocolVersion, {1, 0, {"toy/a"}}, 0, "i1"});
  client.expect<proto::Welcome>();

  serve.signal(SIGTERM);
  CHECK(serve.wait(10s) == 0);
  std::string log = read_file(dir.file("serve.log"));
  CHECK(log.find("stop requested") != std::string::npos);
  CHECK(log.find("rejected frame") != std::string::npos);
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  std::set<std::string> kinds;
  auto events = (*store)->events();
  for (const auto& e : *events) kinds.insert(e.kind);
  CHECK(kinds.count("reject"));
  CHECK(kinds.count("join"));
  CHECK(kinds.count("coordinator-stop"));
  auto agents = (*store)->agents();
  REQUIRE(agents->size() == 1);
  CHECK((*agents)[0].status == "offline");
}

// Two SIGTERMs at once (`timeout` and supervisors send two): the second, arriving during the
// shutdown the first began, killed the coordinator with 143 after its clean stop. SIGHUP (a
// closed terminal) killed it with 129 without its stop event. Both stop it cleanly now.
TEST_CASE("the coordinator stops cleanly on two SIGTERMs at once and on SIGHUP", "[processes]") {
  TempDir dir("proc");
  write(dir.file("fp.toml"), config_text(dir, false));
  for (const int first : {SIGTERM, SIGHUP}) {
    INFO("signal " << first << ", then SIGTERM every millisecond until it exits");
    std::filesystem::remove(dir.file("endpoint"));
    ChildProcess serve(
        {kCoordinator, "serve", "-c", dir.file("fp.toml"), "--endpoint-file", dir.file("endpoint")},
        dir.file("serve.log"));
    REQUIRE(!wait_for_file(dir.file("endpoint")).empty());
    serve.signal(first);
    std::optional<int> code;
    for (int ms = 0; ms < 20000 && !(code = serve.wait(0ms)); ++ms) {
      serve.signal(SIGTERM);  // one lands in the shutdown
      std::this_thread::sleep_for(1ms);
    }
    CHECK(code == 0);
    INFO(read_file(dir.file("serve.log")));
    CHECK(read_file(dir.file("serve.log")).find("stop requested") != std::string::npos);
  }
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  auto events = (*store)->events();
  REQUIRE(events.ok());
  int stops = 0;
  for (const auto& e : *events) stops += e.kind == "coordinator-stop";
  CHECK(stops == 2);
}

TEST_CASE("fp-coordinator register accepts artifacts and refuses damaged ones", "[processes]") {
  TempDir dir("proc");
  write(dir.file("fp.toml"), config_text(dir, false));
  save_small_model(dir.file("m.fpm"));
  std::string bytes = read_file(dir.file("m.fpm"));
  bytes[bytes.size() / 2] ^= 0x40;
  write(dir.file("bad.fpm"), bytes);

  // Refused before the database is opened: a damaged artifact as the first command makes none.
  ChildProcess first({kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("bad.fpm")},
                     dir.file("first.log"));
  CHECK(first.wait(60s) == 1);
  CHECK_FALSE(std::filesystem::exists(dir.file("fp.db")));

  ChildProcess good({kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("m.fpm")},
                    dir.file("good.log"));
  REQUIRE(good.wait(60s) == 0);
  std::string sha = sha256_hex(read_file(dir.file("m.fpm")));
  CHECK(read_file(dir.file("good.log")).rfind(sha, 0) == 0);
  CHECK(read_file(dir.file("models/" + sha + ".fpm")) == read_file(dir.file("m.fpm")));

  ChildProcess bad({kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("bad.fpm")},
                   dir.file("bad.log"));
  CHECK(bad.wait(60s) == 1);
  CHECK(read_file(dir.file("bad.log")).find("is not a usable model artifact") != std::string::npos);
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  // Well formed but holding a NaN (training that diverged, a broken export): refused too.
  {
    ModelSpec spec;
    spec.arch = "mlp";
    spec.width_mult = 0.25;
    auto nan_model = build_model(spec);
    REQUIRE(nan_model.ok());
    torch::NoGradGuard no_grad;
    auto params = (*nan_model)->named_parameters();
    params[params.keys().back()].view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE(save_model(**nan_model, dir.file("nan.fpm")).ok());
  }
  ChildProcess nan({kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("nan.fpm")},
                   dir.file("nan.log"));
  CHECK(nan.wait(60s) == 1);
  CHECK_THAT(read_file(dir.file("nan.log")),
             Catch::Matches("(.|\n)*nan\\.fpm is not a usable model artifact: its tensor '[^']+' "
                            "holds NaN or infinite values(.|\n)*"));
  // Nor does a device use it (fp-agent predict gave class 0 at confidence nan for every file,
  // personalize wrote a NaN "personalized" model, both exit 0).
  ChildProcess nan_predict({kAgent, "predict", "--model", dir.file("nan.fpm"), "--data", dir.path},
                           dir.file("nan-predict.log"));
  CHECK(nan_predict.wait(60s) == 1);
  CHECK_THAT(read_file(dir.file("nan-predict.log")),
             Catch::Contains("holds NaN or infinite values"));
  // A personalized model is no general one: masked (devices pruned a pruned model and
  // reported its accuracy as the general model's) or compact (every task failed: "a compact
  // model cannot be pruned further").
  {
    auto masked = load_model(dir.file("m.fpm"));
    REQUIRE(masked.ok());
    torch::NoGradGuard no_grad;
    (*masked)->layers().front()->unit_mask()[0] = 0.0f;
    REQUIRE(save_model(**masked, dir.file("masked.fpm")).ok());
  }
  ChildProcess masked({kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("masked.fpm")},
                      dir.file("masked.log"));
  CHECK(masked.wait(60s) == 1);
  CHECK_THAT(read_file(dir.file("masked.log")),
             Catch::Contains("masked.fpm is a personalized model (masked: 1 of ") &&
                 Catch::Contains(" units pruned), not a general one: register the general model "
                                 "it came from"));
  ChildProcess compact(
      {kAgent, "compact", "--model", dir.file("masked.fpm"), "--out", dir.file("compact.fpm")},
      dir.file("compact.log"));
  REQUIRE(compact.wait(60s) == 0);
  // It names what it wrote by the file's SHA-256, as sha256sum, info and the coordinator do
  // (it printed the artifact's own check, of all but the file's last 32 bytes).
  CHECK_THAT(read_file(dir.file("compact.log")),
             Catch::Contains("(compact, sha256 " +
                             sha256_file_hex(dir.file("compact.fpm"))->substr(0, 16) + ")"));
  ChildProcess compact_register(
      {kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("compact.fpm")},
      dir.file("compact-register.log"));
  CHECK(compact_register.wait(60s) == 1);
  CHECK_THAT(read_file(dir.file("compact-register.log")),
             Catch::Contains("compact.fpm is a personalized model (compact: its pruned units "
                             "are gone)"));
  // A general model whose weights are partly zero already (magnitude-pruned elsewhere) is
  // registered, with a warning: its sparsity counts them (a test model of zeros read
  // "sparsity 100.0%" with nothing removed, without a word).
  CHECK_THAT(read_file(dir.file("good.log")), !Catch::Contains("are zero already"));
  {
    auto zeroed = load_model(dir.file("m.fpm"));
    REQUIRE(zeroed.ok());
    torch::NoGradGuard no_grad;
    for (auto& p : (*zeroed)->named_parameters())
      if (p.key().find("weight") != std::string::npos) {
        p.value().zero_();
        break;
      }
    REQUIRE(save_model(**zeroed, dir.file("zeroed.fpm")).ok());
  }
  ChildProcess zeroed({kCoordinator, "register", "-c", dir.file("fp.toml"), dir.file("zeroed.fpm")},
                      dir.file("zeroed.log"));
  CHECK(zeroed.wait(60s) == 0);
  CHECK_THAT(read_file(dir.file("zeroed.log")),
             Catch::Contains("the general model " + dir.file("zeroed.fpm") + ": ") &&
                 Catch::Contains("prunable weights are zero already"));
  auto models = (*store)->models();
  REQUIRE(models->size() == 2);  // m.fpm and zeroed.fpm
  const auto good_record =
      std::find_if(models->begin(), models->end(), [&](const auto& m) { return m.sha256 == sha; });
  REQUIRE(good_record != models->end());
  CHECK(nlohmann::json::parse(good_record->spec_json)["arch"] == "mlp");
}

TEST_CASE("fp-agent compact writes a new artifact and will not write over the one it reads",
          "[processes]") {
  TempDir dir("proc");
  save_small_model(dir.file("m.fpm"));
  auto before = sha256_file_hex(dir.file("m.fpm"));
  REQUIRE(before.ok());
  auto compact_to = [&](const std::string& out, const std::string& log) {
    ChildProcess p({kAgent, "compact", "--model", dir.file("m.fpm"), "--out", out}, dir.file(log));
    return p.wait(120s).value_or(-1);
  };
  // The same file, also by another name for it.
  CHECK(compact_to(dir.file("m.fpm"), "same.log") == 2);
  CHECK(read_file(dir.file("same.log")).find("is the model it reads") != std::string::npos);
  CHECK(compact_to(dir.file("./m.fpm"), "same2.log") == 2);
  CHECK(sha256_file_hex(dir.file("m.fpm")).value() == *before);  // untouched
  REQUIRE(compact_to(dir.file("c.fpm"), "other.log") == 0);
  auto compacted = load_model(dir.file("c.fpm"));
  REQUIRE(compacted.ok());
  CHECK((*compacted)->spec().is_compact());
  // Into a folder that does not exist yet: made (it was "cannot create ...tmp...").
  REQUIRE(compact_to(dir.file("out/compact/c.fpm"), "new-folder.log") == 0);
  CHECK(load_model(dir.file("out/compact/c.fpm")).ok());
  ChildProcess exported(
      {kAgent, "export", "--model", dir.file("c.fpm"), "--out", dir.file("out/torch/c")},
      dir.file("export.log"));
  REQUIRE(exported.wait(120s) == 0);
  CHECK(std::filesystem::exists(dir.file("out/torch/c.pt")));
  // Its hint names where the module that loads it is (the source tree's, from a build).
  CHECK_THAT(read_file(dir.file("export.log")),
             Catch::Contains("sys.path.insert(0, '" FP_SOURCE_DIR "/scripts/python')"));
  // A prefix whose .pt or .json is the model read: refused, the model untouched.
  std::filesystem::copy_file(dir.file("c.fpm"), dir.file("w.json"));
  ChildProcess over_model({kAgent, "export", "--model", dir.file("w.json"), "--out", dir.file("w")},
                          dir.file("export-over.log"));
  REQUIRE(over_model.wait(120s) == 2);
  CHECK_THAT(read_file(dir.file("export-over.log")), Catch::Contains("is the model it reads"));
  CHECK(read_file(dir.file("w.json")) == read_file(dir.file("c.fpm")));
  // A folder for --out wrote ".pt" and ".json" into it: refused, naming the prefix wanted.
  ChildProcess into_folder(
      {kAgent, "export", "--model", dir.file("c.fpm"), "--out", dir.file("out/torch") + "/"},
      dir.file("export-folder.log"));
  REQUIRE(into_folder.wait(120s) == 2);
  CHECK_THAT(read_file(dir.file("export-folder.log")),
             Catch::Contains("names a folder: give the files' prefix"));
  CHECK_FALSE(std::filesystem::exists(dir.file("out/torch/.pt")));
  // A folder where the .json goes: refused before the .pt is written (a new .pt was left
  // beside an old or no .json, a pair that does not belong together).
  std::filesystem::create_directories(dir.file("out/pair.json"));
  ChildProcess half({kAgent, "export", "--model", dir.file("c.fpm"), "--out", dir.file("out/pair")},
                    dir.file("export-half.log"));
  REQUIRE(half.wait(120s) == 2);
  CHECK_THAT(read_file(dir.file("export-half.log")), Catch::Contains("pair.json is a folder"));
  CHECK_FALSE(std::filesystem::exists(dir.file("out/pair.pt")));
  // The hint's paths are Python strings: a quote or a backslash in one made another path.
  ChildProcess odd(
      {kAgent, "export", "--model", dir.file("c.fpm"), "--out", dir.file("out/it's\\here")},
      dir.file("export-odd.log"));
  REQUIRE(odd.wait(120s) == 0);
  CHECK_THAT(read_file(dir.file("export-odd.log")),
             Catch::Contains("fineprune_ref.load('" + dir.file("out/it\\'s\\\\here") + "')"));
  // A folder that cannot be made is named.
  write(dir.file("plain-file"), "x");
  CHECK(compact_to(dir.file("plain-file/c.fpm"), "not-folder.log") == 1);
  CHECK_THAT(read_file(dir.file("not-folder.log")),
             Catch::Contains("cannot make folder " + dir.file("plain-file")));
}

TEST_CASE("fp-coordinator register --calibrate ships a model trained elsewhere with its curve",
          "[processes]") {
  TempDir dir("proc");
  write(dir.file("fp.toml"), config_text(dir, false));
  // Fashion-MNIST's shape and classes, trained nowhere: no curve.
  save_small_model(dir.file("m.fpm"), 10, {{"origin", "elsewhere"}});
  save_small_model(dir.file("five.fpm"), 5);
  auto run = [&](const std::string& artifact, const std::string& log) {
    ChildProcess p({kCoordinator, "register", "-c", dir.file("fp.toml"), "--calibrate",
                    "--calibration-samples", "500", dir.file(artifact)},
                   dir.file(log));
    auto code = p.wait(120s);
    INFO(read_file(dir.file(log)));
    return code.value_or(-1);
  };

  REQUIRE(run("m.fpm", "calibrate.log") == 0);
  const std::string log = read_file(dir.file("calibrate.log"));
  CHECK(log.find("measured the shift detector's spread curve on 500 fashion-mnist samples") !=
        std::string::npos);
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  auto models = (*store)->models();
  REQUIRE(models->size() == 1);
  const std::string sha = models->front().sha256;
  CHECK(sha != sha256_hex(read_file(dir.file("m.fpm"))));  // a new artifact: the curve is in it
  CHECK(log.find(sha) != std::string::npos);
  ArtifactInfo info;
  auto shipped = load_model(dir.file("models/" + sha + ".fpm"), &info);
  REQUIRE(shipped.ok());
  auto curve = spread_curve_from_meta(info.meta);
  REQUIRE(curve.ok());
  CHECK(curve->size() == 10);
  CHECK(info.meta["origin"] == "elsewhere");
  CHECK(info.meta["class_spread_calibration"].find("500 fashion-mnist general samples") == 0);
  CHECK(nlohmann::json::parse(models->front().meta_json)["source"] == dir.file("m.fpm"));

  // A model whose classes the general data do not match is refused; nothing is registered.
  CHECK(run("five.fpm", "five.log") == 1);
  CHECK(read_file(dir.file("five.log")).find("the model has 5 classes") != std::string::npos);
  CHECK((*store)->models()->size() == 1);
}

TEST_CASE("keygen, enroll and revoke from the command line, and refused agents say why",
          "[processes][security]") {
  TempDir dir("proc");
  const std::string coord_key = dir.file("keys/coord"), dev_key = dir.file("keys/phone");
  auto run = [&](std::vector<std::string> args, const std::string& log) {
    ChildProcess p(args, dir.file(log));
    auto code = p.wait(60s);
    INFO(read_file(dir.file(log)));
    return code.value_or(-1);
  };
  REQUIRE(run({kCoordinator, "keygen", "--key", coord_key}, "keygen.log") == 0);
  CHECK(run({kCoordinator, "keygen", "--key", coord_key}, "keygen2.log") == 1);
  CHECK(read_file(dir.file("keygen2.log")).find("already exists") != std::string::npos);
  REQUIRE(run({kAgent, "keygen", "--key", dev_key}, "agent-keygen.log") == 0);
  CHECK(read_file(dir.file("agent-keygen.log"))
            .find("fp-coordinator enroll -c <its configuration> --key") != std::string::npos);

  write(dir.file("fp.toml"), "[server]\nendpoint = \"tcp://127.0.0.1:*\"\ndatabase = \"" +
                                 dir.file("fp.db") + "\"\nmodels_dir = \"" + dir.file("models") +
                                 "\"\nkey = \"" + coord_key + "\"\nheartbeat_ms = 100\n");
  ChildProcess serve(
      {kCoordinator, "serve", "-c", dir.file("fp.toml"), "--endpoint-file", dir.file("endpoint")},
      dir.file("serve.log"));
  std::string endpoint = wait_for_file(dir.file("endpoint"));
  REQUIRE(!endpoint.empty());
  auto agent = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        kAgent,        "--id",       "phone",           "--coordinator",
        endpoint,      "--dataset",  "fashion-mnist",   "--individual",
        "classes=1+2", "--work-dir", dir.file("agent"), "--hello-timeout-ms",
        "2000"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<std::string> curve = {"--key", dev_key, "--coordinator-key",
                                          coord_key + ".pub"};
  CHECK(run(agent(curve), "unenrolled.log") == 3);
  CHECK(read_file(dir.file("unenrolled.log")).find("refused this agent's CURVE key") !=
        std::string::npos);
  CHECK(run(agent({"--plain"}), "plain.log") == 3);
  CHECK(read_file(dir.file("plain.log")).find("security mismatch") != std::string::npos);
  CHECK(read_file(dir.file("serve.log")).find("ZAP: refused CURVE client") != std::string::npos);

  REQUIRE(run({kCoordinator, "enroll", "-c", dir.file("fp.toml"), "--key", dev_key + ".pub",
               "--name", "phone-1"},
              "enroll.log") == 0);
  CHECK(read_file(dir.file("enroll.log")).find("there was no database") == std::string::npos);
  // Run elsewhere than the coordinator (another database): it says the key went into a new one.
  REQUIRE(run({kCoordinator, "enroll", "--db", dir.file("elsewhere.db"), "--key", dev_key + ".pub",
               "--name", "phone-1"},
              "enroll-elsewhere.log") == 0);
  CHECK(read_file(dir.file("enroll-elsewhere.log"))
            .find("there was no database " + dir.file("elsewhere.db") + ": made a new one") !=
        std::string::npos);
  // Another key under a name in use would be revoked with it: refused. A secret key file
  // given for a public one is refused without being stored or printed.
  const std::string tablet_key = dir.file("keys/tablet");
  REQUIRE(run({kAgent, "keygen", "--key", tablet_key}, "tablet-keygen.log") == 0);
  CHECK(run({kCoordinator, "enroll", "-c", dir.file("fp.toml"), "--key", tablet_key + ".pub",
             "--name", "phone-1"},
            "enroll-taken.log") == 1);
  CHECK(read_file(dir.file("enroll-taken.log"))
            .find("the name phone-1 is enrolled for another key") != std::string::npos);
  CHECK(run({kCoordinator, "enroll", "-c", dir.file("fp.toml"), "--key", tablet_key + ".key"},
            "enroll-secret.log") == 2);
  CHECK(read_file(dir.file("enroll-secret.log")).find("is a secret key file") != std::string::npos);
  // The coordinator's own public key given for a device's: refused, not stored.
  CHECK(run({kCoordinator, "enroll", "-c", dir.file("fp.toml"), "--key", coord_key + ".pub"},
            "enroll-own.log") == 2);
  CHECK(read_file(dir.file("enroll-own.log")).find("is this coordinator's own public key") !=
        std::string::npos);
  REQUIRE(run({kCoordinator, "enroll", "-c", dir.file("fp.toml"), "--list"}, "list.log") == 0);
  const std::string listed = read_file(dir.file("list.log"));
  CHECK(std::regex_search(listed, std::regex(" +phone-1 +enrolled\n")));
  CHECK(std::count(listed.begin(), listed.end(), '\n') == 1);  // only phone's key
  ChildProcess enrolled(agent(curve), dir.file("enrolled.log"));
  REQUIRE(wait_until(
      [&] { return read_file(dir.file("enrolled.log")).find("welcomed") != std::string::npos; }));
  REQUIRE(run({kCoordinator, "revoke", "-c", dir.file("fp.toml"), "--name", "phone-1"},
              "revoke.log") == 0);
  CHECK(enrolled.wait(10s) == 3);
  CHECK(read_file(dir.file("enrolled.log")).find("was revoked") != std::string::npos);
  CHECK(run({kCoordinator, "revoke", "-c", dir.file("fp.toml"), "--name", "phone-1"},
            "revoke2.log") == 1);
  serve.signal(SIGTERM);
  CHECK(serve.wait(10s) == 0);
}

TEST_CASE("a dashboard open beyond this machine says it has no authentication",
          "[processes][faults]") {
  TempDir dir("opendash");
  REQUIRE(store::Store::open(dir.file("good.db")).ok());
  for (const std::string address : {"0.0.0.0", "127.0.0.1"}) {
    const std::string log = dir.file("dash-" + address + ".log");
    ChildProcess p({kCoordinator, "dashboard", "--db", dir.file("good.db"), "--http-address",
                    address, "--http-port", "0"},
                   log);
    REQUIRE(
        wait_until([&] { return read_file(log).find("dashboard for") != std::string::npos; }, 30s));
    p.signal(SIGTERM);
    CHECK(p.wait(10s) == 0);
    INFO(read_file(log));
    CHECK((read_file(log).find("without authentication: anyone who can reach port") !=
           std::string::npos) == (address == "0.0.0.0"));
  }
}
