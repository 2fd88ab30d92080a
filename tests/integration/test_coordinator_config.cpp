// fp-coordinator's TOML configuration: defaults, every section, and clear errors
// for typos, wrong types and out-of-range values.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "coordinator/campaign_setup.h"
#include "coordinator/config.h"
#include "coordinator/model_registry.h"
#include "coordinator/server.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "models/model_spec.h"
#include "store/store.h"
#include "temp_dir.h"
#include "util/sha256.h"

using fp::coord::parse_config;

namespace {

std::string error_of(const std::string& text) {
  auto c = parse_config(text, "test.toml");
  REQUIRE_FALSE(c.ok());
  return c.status().message();
}

}  // namespace

TEST_CASE("an empty configuration gives the documented defaults", "[config]") {
  auto c = parse_config("", "empty");
  REQUIRE(c.ok());
  CHECK(c->server.endpoint == "tcp://127.0.0.1:5555");
  CHECK(c->server.heartbeat_ms == 1000);
  CHECK(c->server.liveness == 3);
  CHECK(c->database == "fineprune.db");
  CHECK(c->models_dir == "models");
  CHECK(c->train.dataset == "fsdd");
  CHECK(c->train.epochs == 3);
  CHECK_FALSE(c->campaign.present);
  CHECK(c->campaign.dataset == "fsdd");

  // A campaign is on the data set its general model trained on, unless it names another.
  auto trained =
      parse_config("[train]\ndataset = \"fashion-mnist\"\n[campaign]\nname = \"c\"\n", "t");
  REQUIRE(trained.ok());
  CHECK(trained->campaign.dataset == "fashion-mnist");
  auto named =
      parse_config("[train]\ndataset = \"fashion-mnist\"\n[campaign]\ndataset = \"fsdd\"\n", "t");
  REQUIRE(named.ok());
  CHECK(named->campaign.dataset == "fsdd");
}

TEST_CASE("every section is read", "[config]") {
  auto c = parse_config(R"(
[server]
endpoint = "ipc:///tmp/fp.sock"
database = "x.db"
models_dir = "m"
heartbeat_ms = 250
liveness = 4
chunk_size = 65536
chunk_credit = 16
telemetry_batch = 100
max_attempts = 5

[train]
dataset = "fashion-mnist"
arch = "vgg7"
width_mult = 0.25
epochs = 7
limit = 500
seed = 9
general_fraction = 0.75
split_seed = 3
threads = 4

[campaign]
name = "c"
model = "latest"
dataset = "fashion-mnist"
individuals = ["classes=1+2", "classes=3+4"]
baselines = ["svd"]
sweep = [0.2, 0.4]
select_sparsity = true

[campaign.prune]
criterion = "firing_rate"
scope = "global"
target_sparsity = 0.3
protected_layers = ["fc1"]
)",
                        "full");
  REQUIRE(c.ok());
  CHECK(c->server.endpoint == "ipc:///tmp/fp.sock");
  CHECK(c->database == "x.db");
  CHECK(c->models_dir == "m");
  CHECK(c->server.heartbeat_ms == 250);
  CHECK(c->server.liveness == 4);
  CHECK(c->server.chunk_size == 65536);
  CHECK(c->server.chunk_credit == 16);
  CHECK(c->server.telemetry_batch == 100);
  CHECK(c->server.max_attempts == 5);
  CHECK(c->train.dataset == "fashion-mnist");
  CHECK(c->train.arch == "vgg7");
  CHECK(c->train.width_mult == 0.25);
  CHECK(c->train.epochs == 7);
  CHECK(c->train.limit == 500);
  CHECK(c->train.seed == 9);
  CHECK(c->train.general_fraction == 0.75);
  CHECK(c->train.split_seed == 3);
  CHECK(c->train.threads == 4);
  REQUIRE(c->campaign.present);
  CHECK(c->campaign.individuals == std::vector<std::string>{"classes=1+2", "classes=3+4"});
  CHECK(c->campaign.baselines == std::vector<std::string>{"svd"});
  CHECK(c->campaign.sweep == std::vector<double>{0.2, 0.4});
  auto prune = nlohmann::json::parse(c->campaign.prune_config_json);
  CHECK(prune["criterion"] == "firing_rate");
  CHECK(prune["scope"] == "global");
  CHECK(prune["target_sparsity"] == 0.3);
  CHECK(prune["protected_layers"] == nlohmann::json::array({"fc1"}));
  CHECK(prune["granularity"] == "unit");  // defaults spelled out
  CHECK(prune["select_sparsity"] == true);
  CHECK(prune["selector"] == "confidence");
}

TEST_CASE("configuration mistakes are named precisely", "[config]") {
  // File, line and key (the one strict reader, config/toml_reader.h).
  CHECK(error_of("[server]\nendpont = \"x\"\n")
            .rfind("test.toml:2: unknown key 'server.endpont'", 0) == 0);
  CHECK(error_of("[servers]\n") ==
        "test.toml:1: unknown section [servers] (sections: [server], [train], [campaign])");
  // A key before any section: it was "test.toml: unknown section 'zzz'", with no line.
  CHECK(error_of("\nzzz = 1\n[server]\n") ==
        "test.toml:2: 'zzz' is outside any section (sections: [server], [train], [campaign])");
  CHECK(error_of("server = 1\n") == "test.toml:1: server must be a table");
  CHECK(error_of("[server]\nheartbeat_ms = \"fast\"\n") ==
        "test.toml:2: server.heartbeat_ms must be an integer");
  CHECK(error_of("[server]\nheartbeat_ms = 1\n").find("heartbeat_ms must be in") !=
        std::string::npos);
  CHECK(error_of("[server]\nchunk_size = 99999999\n").find("chunk_size must be in") !=
        std::string::npos);
  CHECK(error_of("[train]\nepochs = 0\n") == "test.toml:2: train.epochs must be 1 to 10000, got 0");
  // Many digits trained for ever.
  CHECK(error_of("[train]\nepochs = 9223372036854775807\n") ==
        "test.toml:2: train.epochs must be 1 to 10000, got 9223372036854775807");
  CHECK(error_of("[train]\nthreads = 0\n") == "test.toml:2: train.threads must be 1 to 256, got 0");
  CHECK(error_of("[campaign]\nsweep = [0.5, 1.5]\n") ==
        "test.toml:2: campaign.sweep values must be in [0, 1)");
  CHECK(error_of("[train]\nseed = -1\n") ==
        "test.toml:2: train.seed must be a non-negative integer");
  CHECK(error_of("[train]\nlearning_rate = 0\n") ==
        "test.toml:2: train.learning_rate must be in (0, 10], got 0");
  // A rate of many digits trained a whole run and was then said to diverge.
  CHECK(error_of("[train]\nlearning_rate = 1e308\n") ==
        "test.toml:2: train.learning_rate must be in (0, 10], got 1e+308");
  CHECK(error_of("[train]\nwidth_mult = 0\n") == "test.toml:2: train.width_mult must be in (0, 4]");
  CHECK(error_of("[train]\nlimit = -1\n") == "test.toml:2: train.limit must be >= 0 (0: all)");
  // An image folder names its folder and its input shape; the built-in sets have their own.
  CHECK(error_of("[train]\ndataset = \"image-folder\"\n")
            .find("train.data_dir must name the image folder") != std::string::npos);
  CHECK(error_of("[train]\ndataset = \"image-folder\"\ndata_dir = \"d\"\nchannels = 4\n") ==
        "test.toml:4: train.channels must be 1 or 3");
  CHECK(error_of("[train]\ndataset = \"image-folder\"\ndata_dir = \"d\"\nwidth = 1025\n") ==
        "test.toml:4: train.width must be from 1 to 1024");
  CHECK(error_of("[train]\nheight = 48\n") ==
        "test.toml:2: train.channels, height and width are for dataset = \"image-folder\": fsdd's "
        "input shape is its own");
  CHECK(error_of("[campaign]\nbaselines = [\"magic\"]\n").find("unknown baseline 'magic'") !=
        std::string::npos);
  CHECK(error_of("[campaign]\nsweep = [1.5]\n").find("campaign.sweep") != std::string::npos);
  CHECK(error_of("[campaign]\nindividuals = \"one\"\n") ==
        "test.toml:2: campaign.individuals must be an array of strings");
  // A campaign's name is listed, logged and made into report folder names: one line of text.
  CHECK(error_of("[campaign]\nname = \"line\\nbreak\"\n") ==
        "test.toml:2: campaign.name must be one line of text: 'line\\nbreak' contains control "
        "character U+000A at offset 4");
  // A right-to-left override shows the name reversed (another campaign's, read on screen).
  CHECK(error_of("[campaign]\nname = \"study\u202Eevil\"\n") ==
        "test.toml:2: campaign.name must be one line of text: 'study\\u202eevil' contains "
        "bidirectional control U+202E at offset 5 (it reorders what is shown)");
  CHECK(error_of("[campaign]\nname = \"" + std::string(129, 'c') + "\"\n") ==
        "test.toml:2: campaign.name must be at most 128 bytes, got 129");
  // An individual no device could announce ("<dataset>/<individual>", one line of text).
  CHECK(error_of("[campaign]\nindividuals = [\"ok\", \"tab\\tname\"]\n") ==
        "test.toml:2: campaign.individuals: 'tab\\tname' contains control character U+0009 at "
        "offset 3 (no device could announce it)");
  CHECK(error_of("[campaign]\nindividuals = [\"\"]\n") ==
        "test.toml:2: campaign.individuals: '' must be 1 to 251 bytes");
  // Named twice: a typo for another individual (the campaign made one task of the two).
  CHECK(error_of("[campaign]\nindividuals = [\"classes=0+9\",\n  \"classes=0+9\"]\n") ==
        "test.toml:3: campaign.individuals names \"classes=0+9\" twice");
  CHECK(error_of("[campaign]\nbaselines = [\"svd\", \"svd\"]\n") ==
        "test.toml:2: campaign.baselines names \"svd\" twice");
  CHECK(error_of("[campaign]\nsweep = [0.2, 0.2]\n") ==
        "test.toml:2: campaign.sweep names 0.2 twice");
  CHECK(error_of("[campaign]\nselector = \"dice\"\n").find("campaign.selector") !=
        std::string::npos);
  CHECK(error_of("[campaign.prune]\ncriterion = \"vibes\"\n").find("unknown criterion 'vibes'") !=
        std::string::npos);
  CHECK(error_of("[campaign.prune]\ntarget_sparsity = 1.5\n").find("target_sparsity") !=
        std::string::npos);
  // A value of the wrong type is named by its key, without the JSON library's tag.
  CHECK_THAT(error_of("[campaign.prune]\ncriterion = 0\n"),
             Catch::EndsWith("prune config: 'criterion' type must be string, but is number"));
  CHECK_THAT(error_of("[campaign.prune]\ntarget_sparsity = \"high\"\n"),
             Catch::Contains("'target_sparsity' type must be number") &&
                 !Catch::Contains("json.exception"));
  // No file is no database: SQLite keeps "" in a temporary file, lost with every report.
  CHECK(error_of("[server]\nplain = true\ndatabase = \"\"\n") ==
        "test.toml:3: server.database must name the database file (default fineprune.db), not "
        "\"\"");
  CHECK_THAT(error_of("[server]\nplain = true\ndatabase = \":memory:\"\n"),
             Catch::Contains("server.database must name the database file"));
  CHECK(error_of("[server]\nplain = true\nmodels_dir = \"\"\n") ==
        "test.toml:3: server.models_dir must name a folder (default models)");
  // A data set or architecture no program knows is a typo, named where it is written (a
  // campaign on "fsd" waited for devices that never came).
  CHECK(error_of("[campaign]\nname = \"c\"\n\ndataset = \"fsd\"\n") ==
        "test.toml:4: campaign.dataset must be \"fashion-mnist\", \"fsdd\" or \"image-folder\", "
        "not \"fsd\"");
  CHECK_THAT(error_of("[train]\ndataset = \"mnist\"\n"),
             Catch::StartsWith("test.toml:2: train.dataset must be"));
  CHECK_THAT(error_of("[train]\narch = \"cnnx\"\n"),
             Catch::StartsWith("test.toml:2: train.arch 'cnnx' is unknown (known: mlp, cnn,"));
  std::string syntax = error_of("[server\n");
  CHECK(syntax.rfind("test.toml:1:", 0) == 0);
  // A setting no personalization has was silently dropped; it is an error naming it.
  // Named at the key's own line, as in every other table (it was the section's).
  CHECK_THAT(error_of("[campaign.prune]\ncriterion = \"energy\"\n\nstatistic_samples = 64\n"),
             Catch::StartsWith("test.toml:4: campaign.prune: unknown personalization setting "
                               "'statistic_samples'") &&
                 Catch::Contains("statistics_samples"));
  CHECK_THAT(error_of("[campaign.prune]\nscope = \"global\"\nstatistics_samples = 2.5\n"),
             Catch::StartsWith("test.toml:3: campaign.prune: "));
  CHECK_THAT(
      error_of("[campaign.prune]\nstatistics_samples = -1\n"),
      Catch::StartsWith("test.toml:2: ") && Catch::Contains("'statistics_samples' must be >= 0"));
}

TEST_CASE("a campaign carries the selector's settings from [campaign.prune] to its tasks",
          "[config]") {
  // Until 4 Dec these were read by nothing and the tasks carried the defaults.
  auto c = parse_config(
      "[campaign.prune]\nstatistics_samples = 64\nstop_after_ruled_out = 0\n"
      "candidates = [0.0, 0.5]\nadaptation_samples = 40\n",
      "test.toml");
  INFO(c.status().to_string());
  REQUIRE(c.ok());
  auto prune = nlohmann::json::parse(c->campaign.prune_config_json);
  CHECK(prune["statistics_samples"] == 64);
  CHECK(prune["stop_after_ruled_out"] == 0);
  CHECK(prune["candidates"] == nlohmann::json::array({0.0, 0.5}));
  CHECK(prune["adaptation_samples"] == 40);
  CHECK(nlohmann::json::parse(
            parse_config("", "empty")->campaign.prune_config_json)["statistics_samples"] == 256);
}

TEST_CASE("a server built in code refuses the settings a config file refuses", "[config]") {
  // Programs that fill a ServerConfig themselves (fp-sim, benchmarks) get the config
  // file's checks when the server binds: a telemetry batch of 0 never committed anything
  // (fp-bench telemetry_ingest --batch 0 hung).
  fp::testing::TempDir dir("servercheck");
  auto store = fp::store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  fp::coord::ModelRegistry registry(dir.file("models"), **store);
  zmq::context_t context(1);
  struct Case {
    const char* key;
    std::function<void(fp::coord::ServerConfig&)> set;
  };
  const std::vector<Case> cases = {
      {"server.telemetry_batch", [](auto& c) { c.telemetry_batch = 0; }},
      {"server.chunk_size", [](auto& c) { c.chunk_size = 0; }},
      {"server.chunk_credit", [](auto& c) { c.chunk_credit = 0; }},
      {"server.heartbeat_ms", [](auto& c) { c.heartbeat_ms = 0; }},
      {"server.liveness", [](auto& c) { c.liveness = 0; }},
      {"server.liveness", [](auto& c) { c.liveness = 999999999; }},
      {"server.max_queued_bytes", [](auto& c) { c.max_queued_bytes = 1; }},
      // libzmq would bind port 34463 (99999 modulo 65536) without a word.
      {"server.endpoint", [](auto& c) { c.endpoint = "tcp://127.0.0.1:99999"; }},
      {"server.endpoint", [](auto& c) { c.endpoint = "127.0.0.1:5555"; }},
  };
  for (const auto& k : cases) {
    fp::coord::ServerConfig config;
    config.endpoint = "tcp://127.0.0.1:*";
    config.security.plain = true;
    k.set(config);
    CHECK(fp::coord::check_server_config(config).message().rfind(k.key, 0) == 0);
    fp::coord::Server server(config, context, **store, registry);
    const fp::Status bound = server.bind();
    CHECK(bound.code() == fp::Status::Code::kInvalidArgument);
    CHECK(bound.message().rfind(k.key, 0) == 0);
    CHECK(server.bound_endpoint().empty());  // nothing was bound
  }
  // The same check, prefixed with the file, for a config file.
  CHECK(error_of("[server]\ntelemetry_batch = 0\n") ==
        "test.toml: server.telemetry_batch must be >= 1");
  fp::coord::ServerConfig defaults;
  CHECK(fp::coord::check_server_config(defaults).ok());
}

TEST_CASE("a missing config file is a clear error", "[config]") {
  auto c = fp::coord::load_config("/nonexistent/fp.toml");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message() == "config file /nonexistent/fp.toml cannot be opened");
}

TEST_CASE("security, limits and privacy settings", "[config][security]") {
  auto d = parse_config("", "empty");
  REQUIRE(d.ok());
  CHECK_FALSE(d->server.security.plain);  // CURVE unless asked otherwise
  CHECK(d->key == "keys/coordinator");
  CHECK(d->server.max_agents == 10000);
  CHECK(d->server.rate_limit == 2000);

  auto c = parse_config(R"(
[server]
plain = true
key = "/etc/fp/coord"
max_agents = 3
rate_limit = 50
rate_burst = 100
[campaign.privacy]
mechanism = "gaussian"
epsilon = 0.5
delta = 1e-6
)",
                        "sec.toml");
  INFO(c.status().to_string());
  REQUIRE(c.ok());
  CHECK(c->server.security.plain);
  CHECK(c->key == "/etc/fp/coord");
  CHECK(c->server.max_agents == 3);
  CHECK(c->server.rate_limit == 50);
  CHECK(c->server.rate_burst == 100);
  auto prune = nlohmann::json::parse(c->campaign.prune_config_json);
  CHECK(prune["privacy"] ==
        nlohmann::json{{"mechanism", "gaussian"}, {"epsilon", 0.5}, {"delta", 1e-6}});
  // No privacy table, or mechanism none: nothing travels.
  auto none = parse_config("[campaign.privacy]\nmechanism = \"none\"\n", "t");
  REQUIRE(none.ok());
  CHECK_FALSE(nlohmann::json::parse(none->campaign.prune_config_json).contains("privacy"));

  CHECK(error_of("[server]\nmax_agents = 0\n") == "test.toml: server.max_agents must be >= 1");
  CHECK(error_of("[campaign]\nname = \"c\"\nmodel = \"\"\n") ==
        "test.toml:3: campaign.model is empty: name \"latest\", a registered model's SHA-256 (or "
        "its first 8+ characters) or an artifact file");
  // A value its setting's type cannot hold: refused at its line (it wrapped: 4294967297
  // agents became 1, a heartbeat of 4294967306 ms 10).
  CHECK(error_of("[server]\nmax_agents = 4294967297\n") ==
        "test.toml:2: server.max_agents must be an integer from 0 to 4294967295");
  CHECK(error_of("[server]\nheartbeat_ms = 4294967306\n") ==
        "test.toml:2: server.heartbeat_ms must be an integer from 0 to 4294967295");
  // A deadline past the clock's range took every task back at once.
  CHECK(error_of("[server]\ntask_deadline_s = 1e12\n") ==
        "test.toml: server.task_deadline_s must be in (0, 2592000] (30 days) and "
        "server.task_deadline_s_per_mb in [0, 3600]");
  CHECK(error_of("[server]\nmodel_wait_s = -1\n") ==
        "test.toml: server.model_wait_s must be in [0, 604800] (a week)");
  auto waits = parse_config("[server]\nmodel_wait_s = 30\n", "t");
  REQUIRE(waits.ok());
  CHECK(waits->server.model_wait_s == 30);
  CHECK(error_of("[server]\nevents_kept = -1\n") ==
        "test.toml: server.events_kept must be >= 0 (0: keep every event)");
  auto kept = parse_config("[server]\nevents_kept = 500\n", "t");
  REQUIRE(kept.ok());
  CHECK(kept->server.events_kept == 500);
  CHECK(error_of("[server]\ncommit_delay_ms = 1001\n") ==
        "test.toml: server.commit_delay_ms must be in [0, 1000]");
  auto grouped = parse_config("[server]\ncommit_delay_ms = 5\n", "t");
  REQUIRE(grouped.ok());
  CHECK(grouped->server.commit_delay_ms == 5);
  CHECK(parse_config("", "t")->server.commit_delay_ms == 0);  // devices' replies are not held
  // Heartbeats wait with the other replies: a delay of a whole interval is refused.
  CHECK(error_of("[server]\nheartbeat_ms = 100\ncommit_delay_ms = 100\n") ==
        "test.toml: server.commit_delay_ms must be below server.heartbeat_ms");
  CHECK(error_of("[server]\nplain = \"yes\"\n") ==
        "test.toml:2: server.plain must be a boolean (true or false)");
  CHECK(error_of("[campaign.privacy]\nmechanism = \"laplace\"\nepsilon = 0\n") ==
        "test.toml:1: campaign.privacy: privacy epsilon must be a finite number > 0");
  CHECK(error_of("[campaign.privacy]\nmechanisms = \"laplace\"\n")
            .rfind("test.toml:2: unknown key 'campaign.privacy.mechanisms'", 0) == 0);
}

TEST_CASE("a restarted coordinator resumes its campaign only with the settings it was made with",
          "[config]") {
  fp::testing::TempDir dir("resume");
  auto store = fp::store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  fp::coord::ModelRegistry registry(dir.file("models"), **store);
  auto a = registry.add("model a bytes", "{}", "{}", 1.0);
  REQUIRE(a.ok());
  auto config_with = [&](const std::string& model, const std::string& campaign_lines) {
    auto c = parse_config("[campaign]\nname = \"c\"\ndataset = \"fashion-mnist\"\nmodel = \"" +
                              model + "\"\n" + campaign_lines,
                          "test.toml");
    REQUIRE(c.ok());
    return c->campaign;
  };
  const std::string lines =
      "individuals = [\"classes=0+9\", \"classes=1+7\"]\nbaselines = [\"finetune\"]\n"
      "sweep = [0.5]\n[campaign.prune]\ncriterion = \"energy\"\n";
  auto id = fp::coord::ensure_campaign(registry, **store, config_with(a->sha256, lines), 2.0);
  REQUIRE(id.ok());
  auto again = fp::coord::ensure_campaign(registry, **store, config_with(a->sha256, lines), 3.0);
  REQUIRE(again.ok());
  CHECK(*again == *id);
  // The newest model is still a: "latest" names the same campaign.
  CHECK(fp::coord::ensure_campaign(registry, **store, config_with("latest", lines), 3.0).ok());

  auto refused = [&](const fp::coord::CampaignSection& c, const std::string& named) {
    auto r = fp::coord::ensure_campaign(registry, **store, c, 4.0);
    REQUIRE_FALSE(r.ok());
    INFO(r.status().message());
    CHECK(r.status().code() == fp::Status::Code::kInvalidArgument);
    CHECK_THAT(r.status().message(), Catch::Contains("campaign 'c' already exists") &&
                                         Catch::Contains(named) &&
                                         Catch::Contains("new [campaign] name"));
  };
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string text = lines;
    text.replace(text.find(from), from.size(), to);
    return config_with(a->sha256, text);
  };
  refused(edited("\"classes=1+7\"", "\"classes=2+7\""), "individuals");
  refused(edited(", \"classes=1+7\"", ""), "individuals");
  refused(edited("individuals = [\"classes=0+9\", \"classes=1+7\"]", "individuals = []"),
          "the config: open to every announced individual");
  refused(edited("[\"finetune\"]", "[\"finetune\", \"svd\"]"), "baselines");
  refused(edited("[0.5]", "[0.4]"), "sweep");
  refused(edited("\"energy\"", "\"mean\""), "personalization settings");
  auto other_data = config_with(a->sha256, lines);
  other_data.dataset = "fsdd";
  refused(other_data, "dataset");
  auto b = registry.add("model b bytes", "{}", "{}", 5.0);
  REQUIRE(b.ok());
  refused(config_with(b->sha256, lines), "model (stored " + a->sha256.substr(0, 12));
  refused(config_with("latest", lines), "the config's 'latest' is " + b->sha256.substr(0, 12));
  // A model named by the start of its SHA-256, as status prints it.
  CHECK(fp::coord::ensure_campaign(registry, **store, config_with(a->sha256.substr(0, 12), lines),
                                   5.5)
            .ok());
  refused(config_with(b->sha256.substr(0, 12), lines), "model (stored " + a->sha256.substr(0, 12));
  auto resolved = fp::coord::resolve_model(registry, **store, b->sha256.substr(0, 8), 5.5);
  REQUIRE(resolved.ok());
  CHECK(resolved->sha256 == b->sha256);
  std::string unknown = a->sha256.substr(0, 12);
  unknown[0] = unknown[0] == 'f' ? '0' : 'f';
  if (b->sha256.rfind(unknown, 0) != 0) {
    auto none = fp::coord::resolve_model(registry, **store, unknown, 5.5);
    CHECK(none.status().code() == fp::Status::Code::kNotFound);
    CHECK_THAT(none.status().message(),
               Catch::Contains("no registered model's SHA-256 starts with '" + unknown + "'") &&
                   Catch::Contains(a->sha256.substr(0, 12)) &&
                   Catch::Contains(b->sha256.substr(0, 12)));
  }
  CHECK_FALSE(fp::coord::is_model_sha_prefix(a->sha256.substr(0, 7)));  // too short: a path

  // An artifact path is compared by its bytes' hash; a path that is gone cannot be compared
  // and does not stop a restart (the registry holds the model).
  const std::string path = dir.file("general.fpm");
  std::ofstream(path, std::ios::binary) << "model a bytes";
  CHECK(fp::coord::ensure_campaign(registry, **store, config_with(path, lines), 6.0).ok());
  std::ofstream(path, std::ios::binary) << "model b bytes";
  refused(config_with(path, lines), "is " + b->sha256.substr(0, 12));
  std::filesystem::remove(path);
  CHECK(fp::coord::ensure_campaign(registry, **store, config_with(path, lines), 7.0).ok());

  // A campaign stored before a setting existed (statistics_samples, 4 Dec) resumes under a
  // config that leaves it at its default, which is what the stored campaign's tasks get.
  auto old = config_with(a->sha256, lines);
  old.name = "stored-before";
  auto settings = nlohmann::json::parse(old.prune_config_json);
  REQUIRE(settings.erase("statistics_samples") == 1);
  old.prune_config_json = settings.dump();
  auto old_id = fp::coord::ensure_campaign(registry, **store, old, 8.0);
  REQUIRE(old_id.ok());
  auto current = config_with(a->sha256, lines);
  current.name = "stored-before";
  auto resumed = fp::coord::ensure_campaign(registry, **store, current, 9.0);
  INFO(resumed.status().to_string());
  REQUIRE(resumed.ok());
  CHECK(*resumed == *old_id);
  auto every_sample = config_with(a->sha256, lines + "statistics_samples = 0\n");
  every_sample.name = "stored-before";
  CHECK_FALSE(fp::coord::ensure_campaign(registry, **store, every_sample, 10.0).ok());

  // Nothing stored changed: two campaigns, c's two tasks, its model.
  auto campaigns = (*store)->campaigns();
  REQUIRE(campaigns.ok());
  REQUIRE(campaigns->size() == 2);
  CHECK(campaigns->front().model_sha256 == a->sha256);
  CHECK((*store)->tasks(*id)->size() == 2);
}

namespace {

// A database and registry holding one model (`bytes` under `spec`), and campaigns made on it
// from config text.
struct OneModel {
  fp::testing::TempDir dir;
  std::unique_ptr<fp::store::Store> store;
  std::unique_ptr<fp::coord::ModelRegistry> registry;
  fp::store::ModelRecord model;

  OneModel(const std::string& name, const fp::ModelSpec& spec, const std::string& bytes)
      : dir(name) {
    auto opened = fp::store::Store::open(dir.file("fp.db"));
    REQUIRE(opened.ok());
    store = std::move(opened).value();
    registry = std::make_unique<fp::coord::ModelRegistry>(dir.file("models"), *store);
    auto added = registry->add(bytes, spec.to_json(), "{}", 1.0);
    REQUIRE(added.ok());
    model = *added;
  }
  // A [campaign] `name` on the model, `more` lines after it.
  fp::coord::CampaignSection section(const std::string& name, const std::string& more) {
    auto c = parse_config(
        "[campaign]\nname = \"" + name + "\"\nmodel = \"" + model.sha256 + "\"\n" + more,
        "test.toml");
    REQUIRE(c.ok());
    return c->campaign;
  }
  // ensure_campaign for that section.
  fp::Result<int64_t> campaign(const std::string& name, const std::string& more) {
    return fp::coord::ensure_campaign(*registry, *store, section(name, more), 2.0);
  }
};

}  // namespace

TEST_CASE("a campaign protecting a layer its model lacks is refused when it is made", "[config]") {
  // Every device would refuse such a task ("protected layer ... is not in the model").
  OneModel f("protected", fp::ModelSpec{}, "model bytes");  // a cnn
  auto campaign = [&](const std::string& name, const std::string& layer) {
    return f.campaign(
        name,
        "dataset = \"fashion-mnist\"\n[campaign.prune]\nprotected_layers = [\"" + layer + "\"]\n");
  };
  auto typo = campaign("typo", "conv_1");
  REQUIRE_FALSE(typo.ok());
  CHECK_THAT(typo.status().message(),
             Catch::Contains("protected layer 'conv_1' is not a layer of the campaign's model "
                             "(cnn: conv1,"));
  CHECK(f.store->campaigns()->empty());  // nothing stored
  auto right = campaign("right", "conv1");
  INFO(right.status().to_string());
  CHECK(right.ok());
}

TEST_CASE("a campaign's model must take its built-in data set's shape and classes", "[config]") {
  // A 3x16x16 picture model on fashion-mnist: every task failed on a device holding its
  // samples (a LibTorch trace as the reason), and serve --check said ready.
  fp::ModelSpec colour;
  colour.input.kind = "image";
  colour.in_channels = 3;
  colour.height = colour.width = 16;
  colour.num_classes = 4;
  OneModel f("shape", colour, "colour model bytes");
  auto wrong = f.campaign("clothes", "dataset = \"fashion-mnist\"\n");
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.status().message(),
             Catch::Contains("its data set fashion-mnist gives 1x28x28 inputs of 10 classes but "
                             "model " +
                             f.model.sha256.substr(0, 12) + " takes 3x16x16 inputs of 4 classes"));
  CHECK(f.store->campaigns()->empty());
  // A device's own pictures are decoded to the model's shape: any shape serves them.
  CHECK(f.campaign("mine", "dataset = \"image-folder\"\n").ok());
}

TEST_CASE("a campaign's model must take the input its data set's devices give", "[config]") {
  // A picture model for FSDD's recordings (or the other way round) fails every device's task.
  fp::ModelSpec pictures;
  pictures.input.kind = "image";
  OneModel f("inputkind", pictures, "picture model bytes");
  const std::string sha12 = f.model.sha256.substr(0, 12);
  auto wrong = f.campaign("speakers", "dataset = \"fsdd\"\n");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message() ==
        "campaign 'speakers': its data set fsdd gives recordings (log-mel) but model " + sha12 +
            " takes pictures (campaign.dataset, campaign.model)");
  CHECK(f.store->campaigns()->empty());  // nothing stored
  auto right = f.campaign("clothes", "dataset = \"fashion-mnist\"\n");
  REQUIRE(right.ok());
  // A campaign stored before the check (or edited into the store) is named before serving.
  fp::store::CampaignRecord old = *f.store->campaign(*right).value();
  old.name = "stored-speakers";
  old.dataset = "fsdd";
  REQUIRE(f.store->create_campaign(old).ok());
  auto stored = f.store->find_campaign("stored-speakers");
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  fp::Status servable = fp::coord::check_campaign_model(*f.registry, **stored);
  CHECK(servable.message() ==
        "campaign 'stored-speakers' cannot be served: its data set fsdd "
        "gives recordings (log-mel) but model " +
            sha12 +
            " takes pictures; give it a model trained on fsdd, under a "
            "new campaign name");
  // Serving: the configured campaign must be servable; another one is only warned about.
  CHECK(fp::coord::check_served_campaigns(*f.registry, *f.store, "clothes").ok());
  CHECK(fp::coord::check_served_campaigns(*f.registry, *f.store, "stored-speakers").message() ==
        servable.message());
  // The model file damaged in place (same size): named too, with what to do.
  const std::string file = f.dir.file("models/" + f.model.sha256 + ".fpm");
  std::ofstream(file, std::ios::binary | std::ios::trunc) << "PICTURE model bytes";
  CHECK_THAT(
      fp::coord::check_campaign_model(*f.registry, *f.store->campaign(*right).value()).message(),
      Catch::Contains("holds other bytes than model " + sha12) &&
          Catch::EndsWith("register its model again (fp-coordinator register <artifact>)"));
}

TEST_CASE("a new open campaign supersedes the one it replaces over its data set", "[config]") {
  // A fleet ships a new model under a new [campaign] name: every new device ran the replaced
  // campaign's task too (one per model ever shipped), and nothing could end it.
  fp::ModelSpec pictures;  // Fashion-MNIST's devices give pictures
  pictures.input.kind = "image";
  OneModel f("supersede", pictures, "picture model bytes");
  fp::store::Store& store = *f.store;
  const std::string clothes = "dataset = \"fashion-mnist\"\n";
  auto status_of = [&](const std::string& name) {
    auto c = store.find_campaign(name);
    REQUIRE(c.ok());
    REQUIRE(c->has_value());
    return (*c)->status;
  };
  auto campaigns_of = [&](const std::string& individual) {
    std::set<std::string> names;
    auto campaigns = store.campaigns();
    REQUIRE(campaigns.ok());
    for (const auto& c : *campaigns) {
      auto tasks = store.tasks(c.id);
      REQUIRE(tasks.ok());
      for (const auto& t : *tasks)
        if (t.individual == individual) names.insert(c.name);
    }
    return names;
  };
  auto v1 = f.campaign("v1", clothes);
  REQUIRE(v1.ok());
  REQUIRE(f.campaign("study", clothes + "individuals = [\"dev-a\"]\n").ok());
  REQUIRE(store.enroll("fashion-mnist", "dev-a").ok());
  CHECK(campaigns_of("dev-a") == std::set<std::string>{"v1", "study"});

  // serve --check says so before a start does it.
  auto plan = fp::coord::plan_campaign(*f.registry, store, f.section("v2", clothes));
  REQUIRE(plan.ok());
  CHECK_THAT(*plan, Catch::EndsWith("; supersedes 'v1' (no longer handed out: 1 campaign(s))"));
  CHECK(status_of("v1") == "running");

  REQUIRE(f.campaign("v2", clothes).ok());
  CHECK(status_of("v1") == "superseded");
  CHECK(status_of("v2") == "running");
  CHECK(status_of("study") == "running");  // a fixed list ends by itself
  // A new device joins v2 only; v1's task not yet handed out is not handed out.
  REQUIRE(store.enroll("fashion-mnist", "dev-b").ok());
  CHECK(campaigns_of("dev-b") == std::set<std::string>{"v2"});
  auto next = store.find_pending_task("fashion-mnist", "dev-a");
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  CHECK((*next)->campaign_id != *v1);
  // Serving v1's configuration again serves it again, in v2's place.
  auto back = f.campaign("v1", clothes);
  REQUIRE(back.ok());
  CHECK(*back == *v1);
  CHECK(status_of("v1") == "running");
  CHECK(status_of("v2") == "superseded");
  CHECK(fp::coord::check_served_campaigns(*f.registry, store, "v1").ok());
}

TEST_CASE("a campaign's start is planned without storing or registering anything", "[config]") {
  // fp-coordinator serve --check says what a start would do with [campaign], or its error.
  fp::testing::TempDir dir("plan");
  auto opened = fp::store::Store::open(dir.file("fp.db"));
  REQUIRE(opened.ok());
  fp::store::Store& store = **opened;
  fp::coord::ModelRegistry registry(dir.file("models"), store);
  auto section = [&](const std::string& model, const std::string& more) {
    auto c = parse_config(
        "[campaign]\nname = \"c\"\ndataset = \"fashion-mnist\"\nmodel = \"" + model + "\"\n" + more,
        "test.toml");
    REQUIRE(c.ok());
    return c->campaign;
  };
  auto plan = [&](const std::string& model, const std::string& more) {
    return fp::coord::plan_campaign(registry, store, section(model, more));
  };
  const std::string two = "individuals = [\"classes=0+9\", \"classes=1+7\"]\n";

  auto none = plan("latest", "");
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.status().message(), Catch::StartsWith("campaign 'c': no model registered yet"));
  // An artifact path is read and checked, not registered.
  fp::ModelSpec spec;
  spec.arch = "mlp";
  auto model = fp::build_model(spec);
  REQUIRE(model.ok());
  const std::string path = dir.file("general.fpm");
  REQUIRE(fp::save_model(**model, path).ok());
  const std::string sha12 = fp::sha256_hex(fp::testing::read_file(path)).substr(0, 12);
  auto from_path = plan(path, two);
  INFO(from_path.status().to_string());
  REQUIRE(from_path.ok());
  CHECK(*from_path ==
        "campaign 'c' made at the start: model " + sha12 +
            ", data set fashion-mnist, 2 individual(s) (the artifact registered then)");
  CHECK(store.models()->empty());
  CHECK_FALSE(std::filesystem::exists(dir.file("models")));
  std::ofstream(dir.file("notes.fpm")) << "not a model";
  CHECK_THAT(plan(dir.file("notes.fpm"), "").status().message(),
             Catch::StartsWith("campaign 'c': " + dir.file("notes.fpm") +
                               " is not a usable model artifact"));
  // Registered: "latest" names it.
  REQUIRE(fp::coord::register_artifact(registry, path, 1.0).ok());
  CHECK(plan("latest", "").value() ==
        "campaign 'c' made at the start: model " + sha12 +
            ", data set fashion-mnist, open to every announced individual");
  CHECK(store.campaigns()->empty());
  // Stored: resumed, with how far it has got.
  auto id = fp::coord::ensure_campaign(registry, store, section("latest", two), 2.0);
  REQUIRE(id.ok());
  CHECK(plan("latest", two).value() ==
        "campaign 'c' resumed (id " + std::to_string(*id) + ", running: 0 of 2 task(s) ended)");
  const int64_t task = store.tasks(*id)->front().id;
  REQUIRE(store.assign_task(task, "a1", 3.0).ok());
  REQUIRE(store.finish_task(task, true, "", 4.0).ok());
  CHECK_THAT(plan("latest", two).value(), Catch::EndsWith("running: 1 of 2 task(s) ended)"));
  // Other settings: the start's own refusal.
  const auto other = section("latest", "individuals = [\"classes=2+7\"]\n");
  auto differs = fp::coord::plan_campaign(registry, store, other);
  REQUIRE_FALSE(differs.ok());
  CHECK(differs.status().message() ==
        fp::coord::ensure_campaign(registry, store, other, 5.0).status().message());
  CHECK_THAT(differs.status().message(), Catch::StartsWith("campaign 'c' already exists"));
  // A registered model whose file was damaged since: a new campaign on it is not servable.
  const std::string file = store.models()->front().path;
  std::string bytes = fp::testing::read_file(file);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  auto damaged = section("latest", "");
  damaged.name = "d";
  CHECK_THAT(fp::coord::plan_campaign(registry, store, damaged).status().message(),
             Catch::StartsWith("campaign 'd' cannot be served") &&
                 Catch::Contains("holds other bytes than model " + sha12));
  CHECK(store.campaigns()->size() == 1);
}

// A coordinator whose clock ran a day ahead when model a was registered, corrected before b:
// "latest" named a, by its registration stamp (a clock-skew audit, 7 Dec), and a new campaign
// quietly used the older model.
TEST_CASE("\"latest\" is the model registered last, whatever the clock said then", "[config]") {
  fp::testing::TempDir dir("latest");
  auto store = fp::store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  fp::coord::ModelRegistry registry(dir.file("models"), **store);
  const double now = 1.8e9;
  auto a = registry.add("model a bytes", "{}", "{}", now + 86400);
  auto b = registry.add("model b bytes", "{}", "{}", now);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto latest = fp::coord::resolve_model(registry, **store, "latest", now + 1);
  REQUIRE(latest.ok());
  CHECK(latest->sha256 == b->sha256);
  // Registering a again changes nothing (the same bytes: one model, first registered before b).
  REQUIRE(registry.add("model a bytes", "{}", "{}", now + 2).ok());
  CHECK(fp::coord::resolve_model(registry, **store, "latest", now + 3)->sha256 == b->sha256);
  auto models = (*store)->models();
  REQUIRE(models.ok());
  REQUIRE(models->size() == 2);
  CHECK((*models)[0].sha256 == a->sha256);  // in registration order
}
