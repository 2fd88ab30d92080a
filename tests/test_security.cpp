// CURVE key files, the ZAP policy, enrolled keys in the store, and differential-privacy
// noise on reported accuracies (the mechanisms' statistics and what lands in SQLite).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "agent/report_privacy.h"
#include "file_size_limit.h"
#include "protocol/codec.h"
#include "security/keys.h"
#include "security/privacy_noise.h"
#include "security/refusal_summary.h"
#include "security/zap_handler.h"
#include "store/store.h"
#include "temp_dir.h"

using namespace fp;
using namespace fp::security;
using fp::testing::TempDir;

namespace {

void write_text(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

struct Moments {
  double mean = 0, sd = 0, within_scale = 0;  // share of |x - mean| <= scale
};

Moments draw(const PrivacyConfig& c, double sensitivity, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> xs(static_cast<size_t>(n));
  for (auto& x : xs) x = sample_noise(c, sensitivity, rng);
  Moments m;
  for (double x : xs) m.mean += x / n;
  for (double x : xs) m.sd += (x - m.mean) * (x - m.mean) / (n - 1);
  m.sd = std::sqrt(m.sd);
  const double scale = noise_scale(c, sensitivity);
  for (double x : xs) m.within_scale += std::abs(x) <= scale ? 1.0 / n : 0.0;
  return m;
}

proto::TelemetryReport evaluated_report() {
  proto::TelemetryReport r;
  r.method = "fineprune";
  r.evaluated = true;
  r.accuracy_before = 0.6;
  r.accuracy_after = 0.8;
  r.eval_samples = 50;
  r.curve = {{0.25, 0.25, 0.7, 10}, {0.5, 0.5, 0.65, 8}};
  // What the noise does not cover (NETWORK.md): measured on the private data all the same.
  r.sparsity = 0.42;
  r.adaptation_samples = 50;
  r.mean_confidence_before = 0.7;
  r.mean_confidence_after = 0.75;
  r.agreement = 0.9;
  r.skipped_files = 3;
  return r;
}

}  // namespace

TEST_CASE("key pairs round-trip through their files, the secret one private", "[security]") {
  REQUIRE(curve_available());
  TempDir dir("keys");
  auto pair = generate_keypair();
  REQUIRE(pair.ok());
  CHECK(pair->public_key.size() == 40);
  CHECK(pair->secret_key.size() == 40);
  CHECK(*public_key_of(pair->secret_key) == pair->public_key);

  const std::string base = dir.file("sub/agent");
  REQUIRE(write_keypair(*pair, base).ok());
  CHECK(mode_of(base + ".key") == 0600);
  auto back = read_keypair(base);
  REQUIRE(back.ok());
  CHECK(back->public_key == pair->public_key);
  CHECK(back->secret_key == pair->secret_key);
  CHECK(*read_public_key(base + ".pub") == pair->public_key);
  // Either file's name names the pair.
  CHECK(read_keypair(base + ".pub").ok());
  CHECK(public_key_path(base + ".key") == base + ".pub");

  // No silent overwrite: enrolled agents would be locked out.
  auto other = generate_keypair();
  Status again = write_keypair(*other, base);
  REQUIRE_FALSE(again.ok());
  CHECK(again.message().find("already exists") != std::string::npos);
  REQUIRE(write_keypair(*other, base, /*overwrite=*/true).ok());
  CHECK(read_keypair(base)->public_key == other->public_key);

  bool created = false;
  auto made = load_or_create_keypair(dir.file("coord"), &created);
  REQUIRE(made.ok());
  CHECK(created);
  auto loaded = load_or_create_keypair(dir.file("coord"), &created);
  REQUIRE(loaded.ok());
  CHECK_FALSE(created);
  CHECK(loaded->secret_key == made->secret_key);

  // Half a pair is read (and refused), never replaced by a new pair beside it.
  CHECK_FALSE(keypair_present(dir.file("half")));
  write_text(dir.file("half.pub"), made->public_key + "\n");
  CHECK(keypair_present(dir.file("half")));
  auto half = load_or_create_keypair(dir.file("half"), &created);
  REQUIRE_FALSE(half.ok());
  CHECK_FALSE(created);
  CHECK_FALSE(std::filesystem::exists(dir.file("half.key")));
}

TEST_CASE("two key pairs written over one at once leave one whole pair", "[security]") {
  // Two `keygen --force` at once interleaved their renames: a secret key of one beside the
  // public key of the other (1 in 50 runs of two processes), both reported written.
  TempDir dir("keys");
  const std::string base = dir.file("agent");
  int mismatched = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<std::thread> writers;
    for (int w = 0; w < 2; ++w) {
      writers.emplace_back([&] {
        auto pair = generate_keypair();
        if (pair.ok()) (void)write_keypair(*pair, base, /*overwrite=*/true);
      });
    }
    for (auto& t : writers) t.join();
    auto back = read_keypair(base);
    if (!back.ok()) ++mismatched;
  }
  CHECK(mismatched == 0);
}

TEST_CASE("a key pair that cannot be written whole leaves no key file behind", "[security]") {
  // A full disk, as a file size limit: the secret key was written in place and cut short,
  // and every later start refused it ("holds 0 key lines") until it was deleted by hand.
  TempDir dir("keys");
  auto pair = generate_keypair();
  REQUIRE(pair.ok());
  // A key file takes 70 (public) to 96 (secret) bytes.
  const Status failed = fp::testing::with_file_size_limit(
      64, [&] { return write_keypair(*pair, dir.file("agent")); });
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.code() == Status::Code::kIOError);
  CHECK_THAT(failed.message(), Catch::StartsWith("writing " + dir.file("agent.key") + ": "));
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    left.push_back(entry.path().filename().string());
  CHECK(left.empty());
  // The next start makes the pair.
  bool created = false;
  REQUIRE(load_or_create_keypair(dir.file("agent"), &created).ok());
  CHECK(created);
}

TEST_CASE("missing, malformed, mismatched and exposed key files are clear errors", "[security]") {
  TempDir dir("keys");
  auto a = generate_keypair();
  auto b = generate_keypair();
  REQUIRE(a.ok());
  REQUIRE(b.ok());

  auto missing = read_keypair(dir.file("nobody"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(missing.status().message().find(dir.file("nobody.key")) != std::string::npos);

  write_text(dir.file("short.pub"), "# comment\nabc\n");
  auto short_key = read_public_key(dir.file("short.pub"));
  REQUIRE_FALSE(short_key.ok());
  CHECK(short_key.status().code() == Status::Code::kCorruption);
  CHECK(short_key.status().message() ==
        "public key file " + dir.file("short.pub") + ": a CURVE key is 40 Z85 characters, got 3");

  std::string bad = a->public_key;
  bad[5] = '"';
  write_text(dir.file("badchar.pub"), bad + "\n");
  auto bad_char = read_public_key(dir.file("badchar.pub"));
  REQUIRE_FALSE(bad_char.ok());
  CHECK(bad_char.status().message().find("'\"' is not in the Z85 alphabet") != std::string::npos);

  write_text(dir.file("two.pub"), a->public_key + "\n" + b->public_key + "\n");
  auto two = read_public_key(dir.file("two.pub"));
  REQUIRE_FALSE(two.ok());
  CHECK(two.status().message().find("holds 2 key lines") != std::string::npos);

  write_text(dir.file("empty.pub"), "# nothing\n\n");
  CHECK(read_public_key(dir.file("empty.pub")).status().message().find("holds 0 key lines") !=
        std::string::npos);

  // The halves of a pair swapped: a secret key is not taken (nor stored or printed) as a
  // public one, and the other way round.
  REQUIRE(write_keypair(*a, dir.file("pair")).ok());
  auto secret_as_public = read_public_key(dir.file("pair.key"));
  REQUIRE_FALSE(secret_as_public.ok());
  CHECK(secret_as_public.status().code() == Status::Code::kInvalidArgument);
  CHECK(secret_as_public.status().message() ==
        "public key file " + dir.file("pair.key") +
            " is a secret key file (its header says so): give the .pub file made with it; a "
            "secret key never leaves its machine");
  CHECK(secret_as_public.status().message().find(a->secret_key) == std::string::npos);
  std::filesystem::rename(dir.file("pair.key"), dir.file("swapped.pub"));
  std::filesystem::rename(dir.file("pair.pub"), dir.file("swapped.key"));
  ::chmod(dir.file("swapped.key").c_str(), 0600);
  auto swapped = read_keypair(dir.file("swapped"));
  REQUIRE_FALSE(swapped.ok());
  CHECK(swapped.status().message() ==
        "secret key file " + dir.file("swapped.key") +
            " is a public key file (its header says so): give the .key file made with it");
  CHECK(read_public_key(dir.file("swapped.pub")).status().message().find("is a secret key file") !=
        std::string::npos);

  // A secret key readable by others is refused, with the fix.
  REQUIRE(write_keypair(*a, dir.file("open")).ok());
  ::chmod(dir.file("open.key").c_str(), 0644);
  auto open = read_keypair(dir.file("open"));
  REQUIRE_FALSE(open.ok());
  CHECK(open.status().message() == "secret key file " + dir.file("open.key") +
                                       " has mode 0644: group or others may access it; run "
                                       "chmod 600 " +
                                       dir.file("open.key"));

  // Halves of two different pairs.
  write_text(dir.file("mixed.key"), a->secret_key + "\n");
  write_text(dir.file("mixed.pub"), b->public_key + "\n", 0644);
  auto mixed = read_keypair(dir.file("mixed"));
  REQUIRE_FALSE(mixed.ok());
  CHECK(mixed.status().message().find("do not belong together") != std::string::npos);

  // A folder given as a key file was "holds 0 key lines"; a key pair path ending in a folder
  // ("keys/") wrote the hidden files keys/.pub and keys/.key.
  std::filesystem::create_directories(dir.file("folder.pub"));
  CHECK(read_public_key(dir.file("folder.pub")).status().message() ==
        "public key file " + dir.file("folder.pub") +
            " is not a file (a folder, a pipe or a device)");
  for (const std::string& base : {dir.file("keys/"), dir.file("keys/.."), dir.file("keys/.")}) {
    INFO(base);
    CHECK_THAT(write_keypair(*a, base).message(),
               Catch::EndsWith("names a folder: give the pair's path without .pub/.key (e.g. "
                               "keys/coordinator)"));
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("keys/.pub")));
  // "keys" where that is a folder: a second identity keys.pub/keys.key was made beside the
  // folder's pair (serve's --check said it would be, a start logged its public key first);
  // read, "keys/" was a missing secret key file.
  std::filesystem::create_directories(dir.file("keys"));
  for (const std::string& base : {dir.file("keys"), dir.file("keys/")}) {
    INFO(base);
    CHECK_THAT(fp::security::check_key_pair_path(base).message(),
               Catch::EndsWith("names a folder: give the pair's path without .pub/.key (e.g. "
                               "keys/coordinator)"));
    CHECK_THAT(write_keypair(*a, base).message(), Catch::Contains("names a folder"));
    CHECK_THAT(read_keypair(base).status().message(), Catch::Contains("names a folder"));
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("keys.pub")));
  CHECK(fp::security::check_key_pair_path(dir.file("keys/coordinator")).ok());
}

TEST_CASE("the ZAP policy admits enrolled CURVE keys only", "[security]") {
  auto lookup = [](const std::string& key) -> Result<std::optional<std::string>> {
    if (key == "known") return std::optional<std::string>("dev-1");
    if (key == "broken") return Status::io_error("database locked");
    return std::optional<std::string>();
  };
  auto admit =
      enrolled_key_policy({"fineprune", "127.0.0.1", "CURVE", "known"}, "fineprune", lookup);
  CHECK(admit.admit);
  CHECK(admit.status_code == "200");
  CHECK(admit.user_id == "known");

  auto stranger =
      enrolled_key_policy({"fineprune", "10.0.0.2", "CURVE", "stranger"}, "fineprune", lookup);
  CHECK_FALSE(stranger.admit);
  CHECK(stranger.status_code == "400");
  CHECK(stranger.reason == "public key stranger is not enrolled");

  auto plain = enrolled_key_policy({"fineprune", "10.0.0.2", "NULL", ""}, "fineprune", lookup);
  CHECK_FALSE(plain.admit);
  CHECK(plain.reason == "mechanism NULL is not accepted: CURVE only");

  auto other_domain =
      enrolled_key_policy({"elsewhere", "10.0.0.2", "CURVE", "known"}, "fineprune", lookup);
  CHECK_FALSE(other_domain.admit);

  auto failing =
      enrolled_key_policy({"fineprune", "10.0.0.2", "CURVE", "broken"}, "fineprune", lookup);
  CHECK_FALSE(failing.admit);
  CHECK(failing.status_code == "500");
}

TEST_CASE("enrolled keys: enroll, rename, revoke by key or name, re-enroll", "[security]") {
  TempDir dir("keys");
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  auto& s = **store;
  REQUIRE(s.enroll_key("KEY-A", "phone-a", 10).ok());
  REQUIRE(s.enroll_key("KEY-B", "phone-b", 11).ok());
  CHECK(*s.enrolled_key_name("KEY-A") == std::optional<std::string>("phone-a"));
  CHECK_FALSE(s.enrolled_key_name("KEY-C")->has_value());

  CHECK(*s.revoke_key("phone-a", 20) == 1);
  CHECK_FALSE(s.enrolled_key_name("KEY-A")->has_value());
  CHECK(*s.revoke_key("phone-a", 21) == 0);  // already revoked
  CHECK(*s.revoke_key("KEY-B", 22) == 1);
  auto keys = s.agent_keys();
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].revoked_at == std::optional<double>(20));
  CHECK((*keys)[1].revoked_at == std::optional<double>(22));

  REQUIRE(s.enroll_key("KEY-A", "phone-a2", 30).ok());
  CHECK(*s.enrolled_key_name("KEY-A") == std::optional<std::string>("phone-a2"));

  // A name is one line of text: listed, logged and matched by `revoke --name`.
  CHECK(s.enroll_key("KEY-C", "Alice's phone", 40).ok());
  CHECK(s.enroll_key("KEY-D", "bad\nname", 41).message() ==
        "a key's name must be one line of text: 'bad\\nname' contains control character "
        "U+000A at offset 3");
  CHECK(s.enroll_key("KEY-D", "", 42).message() == "a key's name must be 1 to 128 bytes, got 0");
  CHECK(s.enroll_key("KEY-D", std::string(129, 'n'), 43).message() ==
        "a key's name must be 1 to 128 bytes, got 129");
  CHECK_FALSE(s.enrolled_key_name("KEY-D")->has_value());  // none of them stored
}

TEST_CASE("privacy settings are checked and travel as JSON", "[security][privacy]") {
  CHECK_FALSE(make_privacy_config("none", 0, 0, "x")->enabled());
  auto bad = make_privacy_config("exponential", 1, 0, "cfg");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() ==
        "cfg: unknown privacy mechanism 'exponential' (known: none, laplace, gaussian)");
  CHECK(make_privacy_config("laplace", 0, 0, "cfg").status().message() ==
        "cfg: privacy epsilon must be a finite number > 0");
  CHECK(make_privacy_config("gaussian", 1.5, 1e-5, "cfg")
            .status()
            .message()
            .find("needs epsilon < 1") != std::string::npos);
  CHECK(make_privacy_config("gaussian", 0.5, 0, "cfg").status().message() ==
        "cfg: privacy delta must be in (0, 1)");

  auto g = make_privacy_config("gaussian", 0.5, 1e-6, "cfg");
  REQUIRE(g.ok());
  auto back = privacy_from_json(privacy_to_json(*g));
  REQUIRE(back.ok());
  CHECK(back->mechanism == NoiseMechanism::kGaussian);
  CHECK(back->epsilon == 0.5);
  CHECK(back->delta == 1e-6);
  CHECK_FALSE(privacy_from_json("[1]").ok());
}

TEST_CASE("Laplace noise is centred with scale sensitivity / epsilon", "[security][privacy]") {
  const double sensitivity = 1.0 / 100;  // an accuracy over 100 samples
  auto c = *make_privacy_config("laplace", 0.5, 0, "test");
  const double b = noise_scale(c, sensitivity);
  CHECK(b == Approx(0.02));
  const int n = 40000;
  auto m = draw(c, sensitivity, n, 42);
  // Mean 0 within 5 standard errors; sd = sqrt(2) b; P(|x| <= b) = 1 - 1/e.
  CHECK(std::abs(m.mean) < 5 * std::sqrt(2.0) * b / std::sqrt(n));
  CHECK(m.sd == Approx(std::sqrt(2.0) * b).epsilon(0.03));
  CHECK(m.within_scale == Approx(1 - std::exp(-1.0)).margin(0.01));
  // Half the epsilon, twice the spread.
  auto c2 = *make_privacy_config("laplace", 0.25, 0, "test");
  CHECK(draw(c2, sensitivity, n, 43).sd == Approx(2 * m.sd).epsilon(0.05));
  // The same seed draws the same noise.
  CHECK(draw(c, sensitivity, 100, 7).mean == draw(c, sensitivity, 100, 7).mean);
}

TEST_CASE("Gaussian noise has sigma = sensitivity * sqrt(2 ln(1.25/delta)) / epsilon",
          "[security][privacy]") {
  const double sensitivity = 1.0 / 100;
  auto c = *make_privacy_config("gaussian", 0.5, 1e-5, "test");
  const double sigma = noise_scale(c, sensitivity);
  CHECK(sigma == Approx(0.01 * std::sqrt(2 * std::log(1.25e5)) / 0.5));
  const int n = 40000;
  auto m = draw(c, sensitivity, n, 44);
  CHECK(std::abs(m.mean) < 5 * sigma / std::sqrt(n));
  CHECK(m.sd == Approx(sigma).epsilon(0.03));
  CHECK(m.within_scale == Approx(0.6827).margin(0.01));
}

TEST_CASE("reports get noise on the device, reproducibly, with epsilon recorded",
          "[security][privacy]") {
  auto laplace = *make_privacy_config("laplace", 1.0, 0, "test");
  const auto clean = evaluated_report();

  auto off = clean;
  agent::add_privacy_noise(off, PrivacyConfig{}, 1);
  CHECK(off.accuracy_after == clean.accuracy_after);
  CHECK(off.privacy_mechanism.empty());

  auto a = clean, b = clean, c = clean;
  agent::add_privacy_noise(a, laplace, agent::report_seed(9, 3, 0));
  agent::add_privacy_noise(b, laplace, agent::report_seed(9, 3, 0));
  agent::add_privacy_noise(c, laplace, agent::report_seed(9, 3, 1));
  CHECK(a.privacy_mechanism == "laplace");
  CHECK(a.privacy_epsilon == 1.0);
  CHECK(a.accuracy_after == b.accuracy_after);
  CHECK(a.curve[1].accuracy == b.curve[1].accuracy);
  CHECK(a.accuracy_after != clean.accuracy_after);
  CHECK(a.accuracy_after != c.accuracy_after);
  // Only the accuracies change: with them and the privacy fields put back, the same bytes.
  auto rest = a;
  rest.accuracy_before = clean.accuracy_before;
  rest.accuracy_after = clean.accuracy_after;
  for (size_t i = 0; i < rest.curve.size(); ++i) rest.curve[i].accuracy = clean.curve[i].accuracy;
  rest.privacy_mechanism = clean.privacy_mechanism;
  rest.privacy_epsilon = clean.privacy_epsilon;
  rest.privacy_delta = clean.privacy_delta;
  CHECK(proto::encode(rest) == proto::encode(clean));
  for (double v : {a.accuracy_before, a.accuracy_after, a.curve[0].accuracy}) {
    CHECK(v >= 0.0);
    CHECK(v <= 1.0);
  }

  // Over many reports the noisy accuracy averages to the true one (b = 1/50 here).
  double sum = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    auto r = clean;
    agent::add_privacy_noise(r, laplace, agent::report_seed(5, 1, static_cast<uint64_t>(i)));
    sum += r.accuracy_after;
  }
  CHECK(sum / n == Approx(0.8).margin(5 * std::sqrt(2.0) * 0.02 / std::sqrt(n)));

  auto unevaluated = clean;
  unevaluated.evaluated = false;
  agent::add_privacy_noise(unevaluated, laplace, 1);
  CHECK(unevaluated.accuracy_after == clean.accuracy_after);
  CHECK(unevaluated.privacy_mechanism.empty());

  proto::TaskAssignment task;
  task.prune_config_json = R"({"target_sparsity":0.5,"privacy":{"mechanism":"gaussian",)"
                           R"("epsilon":0.5,"delta":1e-6}})";
  auto p = agent::privacy_of(task);
  REQUIRE(p.ok());
  CHECK(p->mechanism == NoiseMechanism::kGaussian);
  task.prune_config_json = R"({"target_sparsity":0.5})";
  CHECK_FALSE(agent::privacy_of(task)->enabled());
  task.prune_config_json = R"({"privacy":{"mechanism":"laplace","epsilon":-1}})";
  CHECK_FALSE(agent::privacy_of(task).ok());
}

TEST_CASE("a failed task's reason leaves the device without the device's paths",
          "[security][privacy]") {
  const std::vector<agent::LocalPath> local{
      {"/home/jane/photos/", "<data folder>"}, {"w", "<work folder>"}, {"", "<never>"}};
  using agent::without_local_paths;
  CHECK(without_local_paths("Invalid argument: data folder '/home/jane/photos' does not exist",
                            local) ==
        "Invalid argument: data folder '<data folder>' does not exist");
  CHECK(without_local_paths("IO error: model artifact w/models/ab.fpm: cannot read", local) ==
        "IO error: model artifact <work folder>/models/ab.fpm: cannot read");
  CHECK(without_local_paths("/home/jane/photos/x.png: bad; (w: full)", local) ==
        "<data folder>/x.png: bad; (<work folder>: full)");
  // Only where it stands as a path: "w" inside words, or a longer folder, is left alone.
  CHECK(without_local_paths("wrong weights in w2/x and /home/jane/photos2", local) ==
        "wrong weights in w2/x and /home/jane/photos2");
  // The absolute form of a relative path too.
  const std::string abs_w = (std::filesystem::current_path() / "w").string();
  CHECK(without_local_paths("cannot create " + abs_w + "/personalized/t1.fpm", local) ==
        "cannot create <work folder>/personalized/t1.fpm");
  CHECK(without_local_paths("nothing to hide", {}) == "nothing to hide");
}

TEST_CASE("the mechanism and epsilon are stored next to the accuracies", "[security][privacy]") {
  TempDir dir("dp");
  auto opened = store::Store::open(dir.file("fp.db"));
  REQUIRE(opened.ok());
  auto& s = **opened;
  store::ModelRecord model{std::string(64, 'a'), 10, "{}", "{}", "m.fpm", 1};
  REQUIRE(s.put_model(model).ok());
  store::CampaignRecord c;
  c.name = "dp";
  c.model_sha256 = model.sha256;
  c.dataset = "toy";
  c.prune_config_json = "{}";
  auto campaign = s.create_campaign(c);
  REQUIRE(campaign.ok());
  auto task = s.add_task(*campaign, "alice");
  REQUIRE(task.ok());
  store::TelemetryRecord noisy, clean;
  noisy.idempotency_key = "k1";
  noisy.task_id = *task;
  noisy.campaign_id = *campaign;
  noisy.method = "fineprune";
  noisy.accuracy_after = 0.71;
  noisy.dp_mechanism = "gaussian";
  noisy.dp_epsilon = 0.5;
  noisy.dp_delta = 1e-6;
  clean = noisy;
  clean.idempotency_key = "k2";
  clean.method = "finetune";  // one row per (task, method)
  clean.dp_mechanism = "";
  clean.dp_epsilon.reset();
  clean.dp_delta.reset();
  REQUIRE(s.insert_telemetry({noisy, clean}).ok());
  auto rows = s.telemetry(*campaign);
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  CHECK((*rows)[0].accuracy_after == std::optional<double>(0.71));
  CHECK((*rows)[0].dp_mechanism == "gaussian");
  CHECK((*rows)[0].dp_epsilon == std::optional<double>(0.5));
  CHECK((*rows)[0].dp_delta == std::optional<double>(1e-6));
  CHECK((*rows)[1].dp_mechanism.empty());
  CHECK_FALSE((*rows)[1].dp_epsilon.has_value());
}

TEST_CASE("refused handshakes from many sources are bounded in lines, not only per source",
          "[security]") {
  using Clock = RefusalSummary::Clock;
  const auto window = std::chrono::seconds(60);
  RefusalSummary summary(window, 256, /*max_at_once=*/8, /*max_lines=*/8);
  const Clock::time_point t0 = Clock::now();
  // 200 sources, one refusal each, and one source trying 50 times: before, each new source
  // was a line and an event at once (~500 a minute from enough addresses).
  int at_once = 0;
  for (int i = 0; i < 200; ++i)
    at_once += summary.add("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                           "key not enrolled", t0 + std::chrono::milliseconds(i));
  for (int i = 0; i < 50; ++i)
    at_once += summary.add("10.9.9.9", "key not enrolled", t0 + std::chrono::seconds(1));
  CHECK(at_once == 8);
  CHECK(summary.due(t0 + std::chrono::seconds(30)).empty());  // no window ended yet
  // The window's end: the 8 largest counts, the rest in one line; every refusal counted.
  auto lines = summary.due(t0 + std::chrono::seconds(62));
  REQUIRE(lines.size() == 9);
  CHECK(lines.front().source == "10.9.9.9");
  CHECK(lines.front().count == 50);  // its first held too: the 8 at once were spent
  CHECK(lines.back().source == "185 more sources");
  uint64_t counted = at_once;
  for (const auto& line : lines) counted += line.count;
  CHECK(counted == 250);
  // A new window reports again at once.
  CHECK(summary.add("10.0.0.1", "key not enrolled", t0 + std::chrono::seconds(70)));
}

TEST_CASE("refused handshakes arriving through a window are summarized together at its end",
          "[security]") {
  using Clock = RefusalSummary::Clock;
  RefusalSummary summary(std::chrono::seconds(60), 256, /*max_at_once=*/8, /*max_lines=*/8);
  const Clock::time_point t0 = Clock::now();
  // A new source every 250 ms for a minute, the summary asked every second (a tick): with a
  // window per source, each second's ended windows were lines of their own, ~230 in all.
  size_t lines = 0;
  uint64_t counted = 0;
  for (int ms = 0; ms <= 180000; ms += 250) {
    const auto now = t0 + std::chrono::milliseconds(ms);
    if (ms < 60000) {
      const int i = ms / 250;
      counted += summary.add("10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200),
                             "key not enrolled", now);
    }
    if (ms % 1000 == 0) {
      for (const auto& line : summary.due(now)) {
        ++lines;
        counted += line.count;
      }
    }
  }
  CHECK(lines <= 9);
  CHECK(counted == 240);  // every refusal counted, at once or in a line
}
