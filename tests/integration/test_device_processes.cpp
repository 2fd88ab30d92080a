// A real device (issue 15): real fp-coordinator and fp-agent processes over TCP with
// CURVE, the agent personalizing on a folder of its own unlabeled files, keeping the
// model and classifying the folder with `fp-agent predict`. Once with one FSDD
// speaker's recordings (renamed so no name gives the digit away), once with PNG
// pictures written from Fashion-MNIST test images (one device with a labels file).
#include <stb_image_write.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_set>

#include "agent/kept_model.h"
#include "child_process.h"
#include "data/fashion_mnist.h"
#include "data/file_decoder.h"
#include "data/fsdd.h"
#include "data/log_mel.h"
#include "data/wav_reader.h"
#include "image_folder_fixture.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "net_fixture.h"
#include "process_fixture.h"
#include "skip.h"
#include "store/serve_lock.h"
#include "store/store.h"
#include "test_paths.h"
#include "util/sha256.h"

using namespace fp;
using namespace fp::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string fsdd_dir() {
  std::string dir = default_fsdd_dir();
  if (dir.empty() && fs::is_directory(std::string(FP_SOURCE_DIR) + "/../shared/data/fsdd")) {
    dir = std::string(FP_SOURCE_DIR) + "/../shared/data/fsdd";
  }
  return dir;
}

// "clip-" plus letters only: the name says nothing of the digit.
std::string letters(size_t i) {
  std::string s;
  do {
    s += static_cast<char>('a' + i % 26);
    i /= 26;
  } while (i);
  return "clip-" + s;
}

int run(const std::vector<std::string>& args, const std::string& log) {
  ChildProcess p(args, log);
  auto code = p.wait(300s);
  INFO(read_file(log));
  return code.value_or(-1);
}

// A coordinator with CURVE keys, a device key pair enrolled, and the general model.
struct Fleet {
  TempDir dir{"device"};
  std::string coord_key = dir.file("keys/coord"), dev_key = dir.file("keys/device");

  void setup(const std::string& train_section, const std::string& campaign_section) {
    REQUIRE(run({kCoordinator, "keygen", "--key", coord_key}, dir.file("keygen.log")) == 0);
    REQUIRE(run({kAgent, "keygen", "--key", dev_key}, dir.file("agent-keygen.log")) == 0);
    write(dir.file("fp.toml"), "[server]\nendpoint = \"tcp://127.0.0.1:*\"\ndatabase = \"" +
                                   dir.file("fp.db") + "\"\nmodels_dir = \"" + dir.file("models") +
                                   "\"\nkey = \"" + coord_key +
                                   "\"\nheartbeat_ms = 200\nliveness = 10\n\n" + train_section +
                                   "\n" + campaign_section);
    REQUIRE(run({kCoordinator, "enroll", "-c", dir.file("fp.toml"), "--key", dev_key + ".pub",
                 "--name", "device"},
                dir.file("enroll.log")) == 0);
    REQUIRE(run({kCoordinator, "train", "-c", dir.file("fp.toml")}, dir.file("train.log")) == 0);
  }

  std::vector<std::string> agent(const std::string& id, const std::string& endpoint,
                                 const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {kAgent,
                                     "--id",
                                     id,
                                     "--coordinator",
                                     endpoint,
                                     "--key",
                                     dev_key,
                                     "--coordinator-key",
                                     coord_key + ".pub",
                                     "--leave-on-goodbye",
                                     "--backoff-min-ms",
                                     "50",
                                     "--threads",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};

// Every 16-byte run of four float32 input values (constant runs left out).
std::unordered_set<std::string> sample_windows(const torch::Tensor& t) {
  std::unordered_set<std::string> windows;
  auto inputs = t.contiguous();
  const float* p = inputs.data_ptr<float>();
  for (int64_t i = 0; i + 4 <= inputs.numel(); i += 4) {
    if (p[i] == p[i + 1] && p[i] == p[i + 2] && p[i] == p[i + 3]) continue;
    windows.insert(std::string(reinterpret_cast<const char*>(p + i), 16));
  }
  return windows;
}

// What the coordinator's database holds must name no file and hold no sample values.
void check_database_is_clean(const std::string& db_path, const std::vector<std::string>& names,
                             const std::string& folder, const torch::Tensor& inputs) {
  std::string bytes = read_file(db_path) + read_file(db_path + "-wal");
  REQUIRE(bytes.size() > 1000);
  CHECK(bytes.find(folder) == std::string::npos);
  for (const auto& n : names) {
    INFO(n);
    CHECK(bytes.find(n) == std::string::npos);
  }
  auto windows = sample_windows(inputs);
  REQUIRE(windows.size() > 1000);
  size_t hits = 0;
  for (size_t i = 0; i + 16 <= bytes.size(); ++i) hits += windows.count(bytes.substr(i, 16));
  CHECK(hits == 0);
}

// "<file>\t<id>\t<name>\t<confidence>" lines of fp-agent predict's output.
std::map<std::string, std::pair<int64_t, std::string>> predictions(const std::string& log) {
  std::map<std::string, std::pair<int64_t, std::string>> out;
  std::regex line("^([^\\t\\n]+)\\t([0-9]+)\\t([^\\t\\n]+)\\t([0-9.]+)$");
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line)) out[m[1]] = {std::stoll(m[2]), m[3]};
  }
  return out;
}

// The general model's labeled pictures (patterns/, a folder per class) and a device's
// pictures of two of the classes (phone/), labeled in labels.csv for measuring only.
void write_pattern_pictures(const TempDir& dir) {
  REQUIRE(fp::testing::write_pattern_folder(dir.file("patterns"), 40));
  REQUIRE(fp::testing::write_pattern_folder(dir.file("phone"), 15, /*seed=*/9));
  fs::remove_all(dir.file("phone/vertical"));
  std::string labels = "path,label\n";
  for (const char* c : {"checker", "horizontal"}) {
    for (const auto& e : fs::directory_iterator(dir.file(std::string("phone/") + c)))
      labels += std::string(c) + "/" + e.path().filename().string() + "," + c + "\n";
  }
  write(dir.file("labels.csv"), labels);
}

}  // namespace

TEST_CASE("a device personalizes on its own unlabeled FSDD recordings and predicts locally",
          "[device][processes]") {
  const std::string fsdd = fsdd_dir();
  if (fsdd.empty()) {
    fp::testing::skip("FSDD not found (no ../shared/data/fsdd, FP_FSDD_DIR unset)",
                      fp::testing::kOptional);
    return;
  }
  Fleet fleet;
  fleet.setup("[train]\ndataset = \"fsdd\"\ndata_dir = \"" + fsdd +
                  "\"\narch = \"cnn\"\nwidth_mult = 0.5\nepochs = 4\nthreads = 1\n"
                  "limit = 100000\n",
              "[campaign]\nname = \"phones\"\ndataset = \"fsdd\"\nindividuals = "
              "[\"device=phone\"]\nselect_sparsity = true\n\n[campaign.prune]\n"
              "target_sparsity = 0.5\n");
  auto& dir = fleet.dir;
  // More than FSDD's general part holds: said, and trained on what there is.
  CHECK_THAT(read_file(dir.file("train.log")),
             Catch::Matches("(.|\n)*\\[train\\] limit asks for 100000 samples, but only "
                            "[0-9]+ are there: training on those(.|\n)*"));

  // One speaker's recordings, renamed: clip-<letters>.wav, some in a subfolder.
  const std::string rec = dir.file("phone-files");
  fs::create_directories(rec + "/older");
  std::map<std::string, int> truth;  // file name -> the digit spoken
  std::vector<std::string> names;
  std::vector<fs::path> sources;
  for (const auto& e : fs::directory_iterator(fsdd + "/recordings")) {
    if (e.path().filename().string().find("_jackson_") != std::string::npos)
      sources.push_back(e.path());
  }
  std::sort(sources.begin(), sources.end());
  REQUIRE(sources.size() == 500);
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string name = (i % 5 == 0 ? "older/" : "") + letters(i) + ".wav";
    fs::copy_file(sources[i], rec + "/" + name);
    truth[name] = sources[i].filename().string()[0] - '0';
    names.push_back(letters(i));
  }
  write(rec + "/notes.txt", "not a recording\n");

  ChildProcess serve({kCoordinator, "serve", "-c", dir.file("fp.toml"), "--exit-when-done",
                      "--endpoint-file", dir.file("endpoint")},
                     dir.file("serve.log"));
  const std::string endpoint = wait_for_file(dir.file("endpoint"));
  REQUIRE(endpoint.rfind("tcp://127.0.0.1:", 0) == 0);
  // Part of the options from a config file (the command line adds the rest).
  write(dir.file("agent.toml"), "data = \"" + rec + "\"\nwork_dir = \"" + dir.file("phone-work") +
                                    "\"\ngive_up_after = \"10m\"\n");
  ChildProcess agent(
      fleet.agent("phone", endpoint, {"--config", dir.file("agent.toml"), "--dataset", "fsdd"}),
      dir.file("agent.log"));
  auto served = serve.wait(600s);
  INFO(read_file(dir.file("serve.log")));
  INFO(read_file(dir.file("agent.log")));
  REQUIRE(served == 0);
  REQUIRE(agent.wait(60s) == 0);

  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  auto tasks = (*store)->tasks();
  REQUIRE(tasks->size() == 1);
  CHECK(tasks->front().status == "done");
  auto rows = (*store)->telemetry();
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);  // no labels: Fine-Pruning only, no baselines
  const auto& r = rows->front();
  CHECK(r.method == "fine_prune");
  CHECK(r.individual == "device=phone");
  CHECK_FALSE(r.evaluated);
  CHECK_FALSE(r.accuracy_before.has_value());
  CHECK_FALSE(r.accuracy_after.has_value());
  CHECK(r.adaptation_samples + r.eval_samples == 500);
  CHECK(r.skipped_files == 1);  // notes.txt
  REQUIRE(r.mean_confidence_before.has_value());
  REQUIRE(r.mean_confidence_after.has_value());
  REQUIRE(r.agreement.has_value());
  CHECK(*r.mean_confidence_before > 0.1);
  CHECK(*r.mean_confidence_before <= 1.0);
  CHECK(*r.agreement > 0.0);
  CHECK(*r.agreement <= 1.0);
  CHECK(r.sparsity > 0.0);
  CHECK(r.macs_effective < r.macs_dense);
  CHECK(r.model_bytes > 0);
  CHECK(r.peak_memory_bytes > 0);
  CHECK(r.wall_seconds > 0);

  // The decoded inputs of the folder, to look for in the database.
  auto general_models = (*store)->models();
  REQUIRE(general_models->size() == 1);
  auto general = load_model(general_models->front().path);
  REQUIRE(general.ok());
  std::vector<torch::Tensor> some;
  for (size_t i = 0; i < 40; ++i) {
    auto audio = read_wav(sources[i].string());
    REQUIRE(audio.ok());
    some.push_back(log_mel_spectrogram(audio->samples, LogMelConfig{}));
  }
  check_database_is_clean(dir.file("fp.db"), names, rec, torch::stack(some));

  // The personalized model stayed on the device, with its hash and its origin.
  auto kept = agent::latest_kept_model(dir.file("phone-work/personalized"));
  REQUIRE(kept.ok());
  CHECK(kept->general_sha256 == general_models->front().sha256);
  CHECK(kept->bytes == static_cast<uint64_t>(r.model_bytes));
  CHECK(sha256_hex(read_file(kept->path)) == kept->sha256);

  // fp-agent predict classifies the folder with it, on the device.
  // Its table is all that goes to stdout (a script reads it); the log goes to stderr.
  ChildProcess predict({kAgent, "predict", "--data", rec, "--work-dir", dir.file("phone-work")},
                       dir.file("predict.tsv"), dir.file("predict.log"));
  REQUIRE(predict.wait(300s) == 0);
  const std::string out = read_file(dir.file("predict.tsv"));
  const std::string log = read_file(dir.file("predict.log"));
  INFO(out.substr(0, 2000) + "\n" + log.substr(0, 2000));
  auto got = predictions(out);
  REQUIRE(got.size() == 500);
  CHECK(std::count(out.begin(), out.end(), '\n') == 500);
  int correct = 0;
  for (const auto& [file, p] : got) {
    REQUIRE(truth.count(file));
    CHECK(p.second == std::to_string(p.first));  // FSDD's class names are the digits
    correct += p.first == truth[file];
  }
  CHECK(correct > 100);  // far above chance (50 of 500): it is the speaker's digits
  CHECK(log.find("1 file(s) skipped") != std::string::npos);
}

// DEPLOY.md: on SIGTERM fp-agent "stops at once". A stop mid-computation hands the task back
// with the Goodbye; the agent then computed the abandoned task to its end (67-77 s for a VGG11
// task) before leaving, and systemd's 30 s stop timeout would have killed it.
TEST_CASE("fp-agent leaves at once on SIGTERM while it computes a task", "[device][processes]") {
  Fleet fleet;
  auto& dir = fleet.dir;
  // A plain fine-tuning of a million epochs: a task that runs until stopped.
  fleet.setup(
      "[train]\ndataset = \"fashion-mnist\"\narch = \"cnn\"\nwidth_mult = 0.25\nepochs = 1\n"
      "limit = 1000\nthreads = 1\n",
      "[campaign]\nname = \"long\"\ndataset = \"fashion-mnist\"\nindividuals = "
      "[\"classes=0+9\"]\nbaselines = [\"finetune_plain\"]\n");
  ChildProcess serve(
      {kCoordinator, "serve", "-c", dir.file("fp.toml"), "--endpoint-file", dir.file("endpoint")},
      dir.file("serve.log"));
  const std::string endpoint = wait_for_file(dir.file("endpoint"));
  REQUIRE(!endpoint.empty());
  ChildProcess phone(
      fleet.agent("phone", endpoint,
                  {"--dataset", "fashion-mnist", "--individual", "classes=0+9", "--samples", "40",
                   "--work-dir", dir.file("phone-work"), "--finetune-epochs", "1000000"}),
      dir.file("phone.log"));
  const bool computing = wait_until(
      [&] {
        return read_file(dir.file("phone.log")).find("downloaded and verified") !=
               std::string::npos;
      },
      60s);
  INFO(read_file(dir.file("serve.log")));
  REQUIRE(computing);
  std::this_thread::sleep_for(1s);  // into the fine-tuning
  const auto signalled = std::chrono::steady_clock::now();
  phone.signal(SIGTERM);
  const auto left = phone.wait(20s);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  const std::string log = read_file(dir.file("phone.log"));
  INFO(log);
  REQUIRE(left.has_value());
  CHECK(*left == 0);
  CHECK(took < 10);
  CHECK(log.find("handed back unfinished; leaving without computing it") != std::string::npos);
  // The coordinator took the task back with the Goodbye, and stops cleanly.
  CHECK(wait_until(
      [&] { return read_file(dir.file("serve.log")).find("requeued") != std::string::npos; }));
  serve.signal(SIGTERM);
  CHECK(serve.wait(30s) == 0);
}

TEST_CASE("a fleet's general model trained on an image folder personalizes devices' pictures",
          "[device][processes]") {
  // One's own labeled pictures, a folder per class, train the general model; a device holds
  // pictures of two of the classes, labeled in a file for measuring only.
  Fleet fleet;
  auto& dir = fleet.dir;
  write_pattern_pictures(dir);
  fleet.setup("[train]\ndataset = \"image-folder\"\ndata_dir = \"" + dir.file("patterns") +
                  "\"\nheight = 12\nwidth = 12\nwidth_mult = 0.5\nepochs = 15\n"
                  "learning_rate = 0.01\nthreads = 1\n",
              "[campaign]\nname = \"patterns\"\nbaselines = []\n");
  ChildProcess serve(
      {kCoordinator, "serve", "-c", dir.file("fp.toml"), "--endpoint-file", dir.file("endpoint")},
      dir.file("serve.log"));
  const std::string endpoint = wait_for_file(dir.file("endpoint"));
  REQUIRE(!endpoint.empty());
  ChildProcess phone(fleet.agent("phone", endpoint,
                                 {"--dataset", "image-folder", "--data", dir.file("phone"),
                                  "--labels", dir.file("labels.csv"), "--work-dir",
                                  dir.file("phone-work"), "--leave-when-done"}),
                     dir.file("phone.log"));
  const auto left = phone.wait(120s);
  serve.signal(SIGTERM);
  INFO(read_file(dir.file("train.log")));
  INFO(read_file(dir.file("serve.log")));
  INFO(read_file(dir.file("phone.log")));
  REQUIRE(left == 0);
  REQUIRE(serve.wait(30s) == 0);
  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  auto models = (*store)->models();
  REQUIRE(models.ok());
  REQUIRE(models->size() == 1);
  auto spec = ModelSpec::from_json(models->front().spec_json);
  REQUIRE(spec.ok());
  CHECK(spec->class_names == fp::testing::kPatternClasses);
  CHECK(spec->height == 12);
  CHECK(spec->input == image_folder_input_spec());
  auto rows = (*store)->telemetry();
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  const auto& r = rows->front();
  CHECK(r.individual == "device=phone");
  CHECK(r.evaluated);
  REQUIRE(r.accuracy_after.has_value());
  CHECK(*r.accuracy_after >= 0.9);  // stripes and checkers, told apart
  CHECK(r.adaptation_samples + r.eval_samples == 30);
}

TEST_CASE("a device with a general model file personalizes offline, and says what its models are",
          "[device][processes]") {
  // No coordinator: the general model reached the device as a file (fp-coordinator train
  // wrote it here); fp-agent personalize makes the device's model from its own pictures.
  TempDir dir("offline");
  write_pattern_pictures(dir);
  write(dir.file("fp.toml"),
        "[server]\ndatabase = \"" + dir.file("fp.db") + "\"\nmodels_dir = \"" + dir.file("models") +
            "\"\n[train]\ndataset = \"image-folder\"\ndata_dir = \"" + dir.file("patterns") +
            "\"\nheight = 12\nwidth = 12\nwidth_mult = 0.5\nepochs = 15\n"
            "learning_rate = 0.01\nthreads = 1\n");
  REQUIRE(run({kCoordinator, "train", "-c", dir.file("fp.toml")}, dir.file("train.log")) == 0);
  std::string general;
  for (const auto& e : fs::directory_iterator(dir.file("models")))
    if (e.path().extension() == ".fpm") general = e.path().string();
  REQUIRE(!general.empty());
  auto general_model = load_model(general);
  REQUIRE(general_model.ok());
  const std::string general_sha = *sha256_file_hex(general);  // the name the coordinator gave it
  CHECK(fs::path(general).stem() == general_sha);

  // With a labels file: the accuracy on the labeled held-out files is measured too.
  const std::string personal = dir.file("out/personal.fpm");
  ChildProcess made({kAgent, "personalize", "--model", general, "--data", dir.file("phone"),
                     "--labels", dir.file("labels.csv"), "--out", personal, "--threads", "1"},
                    dir.file("personalize.out"), dir.file("personalize.log"));
  REQUIRE(made.wait(120s) == 0);
  const std::string said = read_file(dir.file("personalize.out"));
  INFO(said << read_file(dir.file("personalize.log")));
  CHECK_THAT(said, Catch::Contains("(compact, sha256 ") &&
                       Catch::Contains("chosen without labels") &&
                       Catch::Contains("accuracy on 15 labeled held-out files: "));
  ArtifactInfo info;
  auto model = load_model(personal, &info);
  REQUIRE(model.ok());
  CHECK((*model)->spec().is_compact());
  CHECK(count_parameters(**model) < count_parameters(**general_model));
  CHECK(info.meta["general_sha256"] == general_sha);
  CHECK(info.meta["form"] == "compact");
  // The figures it printed are its own model's: the predictions on the device's pictures.
  ChildProcess predict({kAgent, "predict", "--model", personal, "--data", dir.file("phone")},
                       dir.file("predict.tsv"), dir.file("predict.log"));
  REQUIRE(predict.wait(60s) == 0);
  const auto predicted = predictions(read_file(dir.file("predict.tsv")));
  REQUIRE(predicted.size() == 30);
  int right = 0;
  for (const auto& [file, p] : predicted) right += file.rfind(p.second + "/", 0) == 0;
  CHECK(right >= 27);

  // A fixed sparsity, set as a campaign's [campaign.prune] would.
  ChildProcess fixed(
      {kAgent, "personalize", "--model", general, "--data", dir.file("phone"), "--out",
       dir.file("fixed.fpm"), "--set", "select_sparsity=false", "--set", "target_sparsity=0.3"},
      dir.file("fixed.out"), dir.file("fixed.log"));
  REQUIRE(fixed.wait(120s) == 0);
  const std::string fixed_said = read_file(dir.file("fixed.out"));
  CHECK_THAT(fixed_said, Catch::Contains("(fixed target 0.30)"));
  CHECK_THAT(fixed_said, !Catch::Contains("accuracy on"));  // no labels, no accuracy

  // fp-agent info: the general model is dense; the personalized one compact, against its
  // architecture; a masked one (a unit zeroed, not removed) is told apart.
  auto info_of = [&](const std::string& path, const std::string& name) {
    ChildProcess p({kAgent, "info", "--model", path}, dir.file(name + ".out"),
                   dir.file(name + ".log"));
    REQUIRE(p.wait(60s) == 0);
    return read_file(dir.file(name + ".out"));
  };
  const std::string dense = info_of(general, "info-general");
  CHECK_THAT(dense, Catch::Contains(", dense, input 1x12x12 (image)") &&
                        Catch::Contains("sha256 " + general_sha + " (of the file") &&
                        Catch::Contains("classes answered: 3 of 3: 0 (checker), 1 (horizontal)"));
  const std::string compact = info_of(personal, "info-personal");
  CHECK_THAT(compact, Catch::Contains("compact (pruned units removed)") &&
                          Catch::Contains("meta general_sha256: " + general_sha));
  std::smatch m;
  REQUIRE(std::regex_search(compact, m, std::regex("parameters \\(stored\\) +([0-9]+) +([0-9]+)")));
  CHECK(std::stoll(m[1]) == count_parameters(**model));
  CHECK(std::stoll(m[2]) == count_parameters(**general_model));
  {
    torch::NoGradGuard no_grad;
    (*general_model)->find_layer("conv2")->unit_mask()[0] = 0;
  }
  REQUIRE(save_model(**general_model, dir.file("masked.fpm")).ok());
  const std::string masked = info_of(dir.file("masked.fpm"), "info-masked");
  CHECK_THAT(masked, Catch::Contains("masked (1 of ") &&
                         Catch::Contains(" units pruned; zeroed, not removed)"));
  REQUIRE(std::regex_search(masked, m, std::regex("conv2 +([0-9]+) +([0-9]+)")));
  CHECK(std::stoll(m[1]) + 1 == std::stoll(m[2]));
  // Single weights masked, no unit: masked too, as register and personalize see it (info
  // counted pruned units only and said "dense").
  {
    auto weights_only = load_model(general);
    REQUIRE(weights_only.ok());
    torch::NoGradGuard no_grad;
    PrunableLayer conv1 = (*weights_only)->find_layer("conv1");
    torch::Tensor mask = torch::ones_like(conv1->weight());
    mask.view({-1}).narrow(0, 0, 3).zero_();
    conv1->set_weight_mask(mask);
    REQUIRE(save_model(**weights_only, dir.file("weight-masked.fpm")).ok());
  }
  CHECK_THAT(info_of(dir.file("weight-masked.fpm"), "info-weight-masked"),
             Catch::Contains("masked (3 of ") && Catch::Contains(" weights pruned; zeroed,"));
  // The file's own text is escaped, as predict's: a newline or a terminal escape in a model's
  // meta forged lines and recoloured the terminal.
  REQUIRE(save_model(**general_model, dir.file("odd.fpm"), {{"note", "two\nlines\x1b[31m"}}).ok());
  CHECK_THAT(info_of(dir.file("odd.fpm"), "info-odd"),
             Catch::Contains("meta note: two\\nlines\\u001b[31m\n"));
  // A masked model is no general one to personalize: its pruned units were reported as the
  // general model's (a compact one was refused already).
  ChildProcess from_masked({kAgent, "personalize", "--model", dir.file("masked.fpm"), "--data",
                            dir.file("phone"), "--out", dir.file("from-masked.fpm")},
                           dir.file("from-masked.log"));
  CHECK(from_masked.wait(60s) == 2);
  CHECK_THAT(read_file(dir.file("from-masked.log")),
             Catch::Contains("masked.fpm is a personalized model (masked: 1 of "));
  CHECK_FALSE(std::filesystem::exists(dir.file("from-masked.fpm")));

  // Mistakes are named, and nothing is written for them.
  auto refused = [&](std::vector<std::string> extra, const std::string& name) {
    std::vector<std::string> args = {kAgent,  "personalize", "--model",
                                     general, "--data",      dir.file("phone")};
    args.insert(args.end(), extra.begin(), extra.end());
    ChildProcess p(args, dir.file(name + ".log"));
    INFO(read_file(dir.file(name + ".log")));
    CHECK(p.wait(60s) == 2);
    return read_file(dir.file(name + ".log"));
  };
  CHECK_THAT(refused({"--out", general}, "over"),
             Catch::Contains("the personalized model would replace it"));
  CHECK_THAT(refused({"--out", dir.file("x.fpm"), "--set", "target_sparsty=0.5"}, "key"),
             Catch::Contains("--set: ") && Catch::Contains("target_sparsty"));
  CHECK_THAT(refused({"--out", dir.file("x.fpm"), "--set", "0.5"}, "pair"),
             Catch::Contains("'0.5' is not key=value"));
  CHECK_THAT(refused({"--out", dir.file("out")}, "folder"), Catch::Contains("is a folder"));
  CHECK_FALSE(fs::exists(dir.file("x.fpm")));
  // Onto the device's own files (a photo named as --out was replaced by the model).
  std::string photo;
  for (const auto& e : fs::recursive_directory_iterator(dir.file("phone")))
    if (e.is_regular_file()) photo = e.path().string();
  const std::string photo_before = read_file(photo);
  CHECK_THAT(refused({"--out", photo}, "photo"), Catch::Contains("is inside the data folder"));
  CHECK_THAT(refused({"--out", dir.file("phone/new.fpm")}, "into-data"),
             Catch::Contains("is inside the data folder"));
  CHECK_THAT(
      refused({"--labels", dir.file("labels.csv"), "--out", dir.file("labels.csv")}, "labels"),
      Catch::Contains("is the labels file"));
  CHECK(read_file(photo) == photo_before);
  CHECK_FALSE(fs::exists(dir.file("phone/new.fpm")));
  // Onto another general model (perhaps the device's only copy): it was replaced; an earlier
  // personalized model is replaced, as a device does task after task.
  fs::copy_file(general, dir.file("general-copy.fpm"));
  CHECK_THAT(refused({"--out", dir.file("general-copy.fpm")}, "over-general"),
             Catch::Contains("is an unpruned model (a general model): the personalized model "
                             "would replace it"));
  ChildProcess compacted(
      {kAgent, "compact", "--model", personal, "--out", dir.file("general-copy.fpm")},
      dir.file("compact-over.log"));
  CHECK(compacted.wait(60s) == 2);
  CHECK(read_file(dir.file("general-copy.fpm")) == read_file(general));
  ChildProcess refit(
      {kAgent, "personalize", "--model", general, "--data", dir.file("phone"), "--out",
       dir.file("fixed.fpm"), "--set", "select_sparsity=false", "--set", "target_sparsity=0.5"},
      dir.file("refit.out"), dir.file("refit.log"));
  CHECK(refit.wait(120s) == 0);
  CHECK_THAT(read_file(dir.file("refit.out")), Catch::Contains("(fixed target 0.50)"));
  ChildProcess again({kAgent, "personalize", "--model", personal, "--data", dir.file("phone"),
                      "--out", dir.file("x.fpm")},
                     dir.file("again.log"));
  CHECK(again.wait(60s) == 2);
  CHECK_THAT(read_file(dir.file("again.log")),
             Catch::Contains("is a personalized model (compact: its pruned units are gone)"));
  CHECK_FALSE(fs::exists(dir.file("x.fpm")));
}

TEST_CASE("devices personalize on PNG pictures, with and without a labels file",
          "[device][processes]") {
  Fleet fleet;
  fleet.setup(
      "[train]\ndataset = \"fashion-mnist\"\narch = \"cnn\"\nwidth_mult = 0.5\nepochs = 1\n"
      "limit = 3000\nthreads = 1\n",
      "[campaign]\nname = \"cams\"\ndataset = \"fashion-mnist\"\nindividuals = "
      "[\"device=cam\", \"device=cam-labeled\", \"device=cam-broken\"]\nbaselines = "
      "[\"svd\"]\n\n[campaign.prune]\n"
      "target_sparsity = 0.5\n");
  auto& dir = fleet.dir;

  // 300 test images of two classes (a wardrobe of trousers and bags), as PNG files.
  auto test = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest);
  REQUIRE(test.ok());
  const std::string pics = dir.file("cam-files");
  fs::create_directories(pics + "/2026");
  std::vector<std::string> names;
  std::string labels = "path,label\n";
  auto y = test->label_vector();
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < test->size() && picked.size() < 300; ++i) {
    if (y[i] == 1 || y[i] == 8) picked.push_back(i);
  }
  for (size_t k = 0; k < picked.size(); ++k) {
    // Back to 8-bit pixels: the PNG holds exactly the IDX bytes.
    torch::Tensor x = test->inputs[picked[k]][0].mul(0.3530).add(0.2860).mul(255).round();
    x = x.clamp(0, 255).to(torch::kUInt8).contiguous();
    const std::string name = (k % 3 ? "" : "2026/") + letters(k) + ".png";
    REQUIRE(stbi_write_png((pics + "/" + name).c_str(), 28, 28, 1, x.data_ptr<uint8_t>(), 28));
    names.push_back(letters(k));
    labels += name + "," + test->class_names[y[picked[k]]] + "\n";
  }
  write(dir.file("labels.csv"), labels);
  // A device with only damaged pictures: its task fails, and the reason names no file.
  const std::string broken = dir.file("broken-jane-files");
  fs::create_directories(broken + "/clinic");
  write(broken + "/clinic/scan-of-jane.png", "not a picture");
  write(broken + "/referral-jane.png", "nor this");

  ChildProcess serve({kCoordinator, "serve", "-c", dir.file("fp.toml"), "--exit-when-done",
                      "--endpoint-file", dir.file("endpoint")},
                     dir.file("serve.log"));
  const std::string endpoint = wait_for_file(dir.file("endpoint"));
  REQUIRE(!endpoint.empty());
  // Left by earlier campaigns: a personalized model and a general one, which the device's
  // bounds (one of each) remove once the new ones are there.
  const std::string old_general = dir.file("cam-work/models/" + std::string(64, 'e') + ".fpm");
  const std::string old_kept = dir.file("cam-work/personalized/task9-device_cam.fpm");
  fs::create_directories(dir.file("cam-work/personalized"));
  fs::create_directories(dir.file("cam-work/models"));
  write(old_general, "an older campaign's model");
  write(old_kept, "an older personalized model");
  write(dir.file("cam-work/personalized/task9-device_cam.json"),
        "{\"model\": \"task9-device_cam.fpm\"}");
  ChildProcess cam(
      fleet.agent("cam", endpoint,
                  {"--dataset", "fashion-mnist", "--data", pics, "--work-dir", dir.file("cam-work"),
                   "--kept-models", "1", "--cached-models", "1"}),
      dir.file("cam.log"));
  ChildProcess labeled(fleet.agent("cam-labeled", endpoint,
                                   {"--dataset", "fashion-mnist", "--data", pics, "--labels",
                                    dir.file("labels.csv"), "--work-dir", dir.file("lab-work")}),
                       dir.file("labeled.log"));
  // The device whose pictures are damaged (and, below, mended), on the coordinator at `at`.
  auto broken_device = [&](const std::string& at) {
    return fleet.agent(
        "cam-broken", at,
        {"--dataset", "fashion-mnist", "--data", broken, "--work-dir", dir.file("broken-work")});
  };
  ChildProcess damaged(broken_device(endpoint), dir.file("broken.log"));
  auto served = serve.wait(600s);
  INFO(read_file(dir.file("serve.log")));
  INFO(read_file(dir.file("cam.log")));
  INFO(read_file(dir.file("labeled.log")));
  INFO(read_file(dir.file("broken.log")));
  REQUIRE(served == 0);
  REQUIRE(cam.wait(60s) == 0);
  REQUIRE(labeled.wait(60s) == 0);
  REQUIRE(damaged.wait(60s) == 0);
  CHECK_FALSE(fs::exists(old_general));
  CHECK_FALSE(fs::exists(old_kept));
  // What remains is this campaign's: its general model and the model personalized from it.
  auto models_in = [](const std::string& folder) {
    int64_t n = 0;
    for (const auto& e : fs::directory_iterator(folder)) n += e.path().extension() == ".fpm";
    return n;
  };
  CHECK(models_in(dir.file("cam-work/models")) == 1);
  CHECK(models_in(dir.file("cam-work/personalized")) == 1);
  CHECK(models_in(dir.file("lab-work/models")) == 1);  // the default bounds keep one task's
  // The device's log names its files; the coordinator learns only why.
  CHECK_THAT(read_file(dir.file("broken.log")), Catch::Contains("scan-of-jane.png"));

  auto store = store::Store::open(dir.file("fp.db"));
  REQUIRE(store.ok());
  auto rows = (*store)->telemetry();
  REQUIRE(rows.ok());
  std::map<std::string, std::vector<store::TelemetryRecord>> by_device;
  for (const auto& r : *rows) by_device[r.individual].push_back(r);
  // Each device says how much memory its machine has.
  auto agents = (*store)->agents();
  REQUIRE(agents.ok());
  for (const auto& a : *agents) CHECK(a.memory_mb > 100);
  REQUIRE(by_device["device=cam"].size() == 1);  // unlabeled: no baselines
  const auto& u = by_device["device=cam"].front();
  CHECK_FALSE(u.evaluated);
  CHECK_FALSE(u.accuracy_after.has_value());
  CHECK(u.adaptation_samples + u.eval_samples == 300);
  REQUIRE(u.agreement.has_value());
  CHECK(*u.agreement > 0.0);
  // With labels: accuracy on the held-out part, and the baseline the campaign asked for.
  REQUIRE(by_device["device=cam-labeled"].size() == 2);
  for (const auto& l : by_device["device=cam-labeled"]) {
    CHECK(l.evaluated);
    REQUIRE(l.accuracy_before.has_value());
    CHECK(*l.accuracy_before > 0.5);  // trousers and bags: easy for the general model
  }
  torch::Tensor some = test->inputs.index_select(
      0, torch::tensor(std::vector<int64_t>(picked.begin(), picked.begin() + 50)));
  check_database_is_clean(dir.file("fp.db"), names, pics, some);
  auto tasks = (*store)->tasks();
  REQUIRE(tasks.ok());
  std::string failure;
  for (const auto& t : *tasks)
    if (t.individual == "device=cam-broken") failure = t.status + ": " + t.error;
  CHECK_THAT(failure, Catch::StartsWith("failed: ") &&
                          Catch::Contains("2 file(s) skipped: 2 not a readable image"));
  check_database_is_clean(dir.file("fp.db"), {"jane", "clinic", "scan-of"}, broken, some);

  // The broken device gets pictures it can read; its failed task is put back in the queue
  // (not beside a serving coordinator, not for a campaign there is not) and served again.
  // The connection above is closed first, and each read below opens its own: reading the
  // database's files above closed descriptors of them, which dropped this process's SQLite
  // locks (POSIX locks go with any of a process's descriptors of a file: sqlite.org, "How
  // To Corrupt An SQLite Database File", 2.2); after that this process's connections, the
  // old one and new ones beside it, went on reading what was there before the next
  // process's writes (a campaign 'done' that retry had made 'running').
  (*store).reset();
  auto database = [&] {
    auto opened = store::Store::open(dir.file("fp.db"));
    REQUIRE(opened.ok());
    return std::move(opened).value();
  };
  for (size_t k = 0; k < 100; ++k)
    fs::copy_file(pics + "/" + (k % 3 ? "" : "2026/") + letters(k) + ".png",
                  broken + "/" + letters(k) + ".png");
  const std::string config = dir.file("fp.toml");
  CHECK(run({kCoordinator, "retry", "-c", config, "--campaign", "nosuch"},
            dir.file("retry-unknown.log")) == 1);
  CHECK_THAT(read_file(dir.file("retry-unknown.log")),
             Catch::Contains("no campaign named 'nosuch' (the database holds: cams)"));
  {
    auto held = store::lock_database(dir.file("fp.db"), "this test");
    REQUIRE(held.ok());
    CHECK(run({kCoordinator, "retry", "-c", config}, dir.file("retry-served.log")) == 1);
    CHECK_THAT(read_file(dir.file("retry-served.log")),
               Catch::Contains("is in use by another process (this test, pid"));
  }
  CHECK(database()->task_counts(1)->failed == 1);  // both refusals changed nothing
  // Beside a serving coordinator (it had to be stopped): the task goes to the device that
  // asks next, and the campaign ends done again.
  ChildProcess serve_again(
      {kCoordinator, "serve", "-c", config, "--endpoint-file", dir.file("endpoint2")},
      dir.file("serve2.log"));
  const std::string endpoint2 = wait_for_file(dir.file("endpoint2"));
  REQUIRE(!endpoint2.empty());
  REQUIRE(run({kCoordinator, "retry", "-c", config, "--campaign", "cams"}, dir.file("retry.log")) ==
          0);
  CHECK_THAT(read_file(dir.file("retry.log")),
             Catch::Contains("1 failed task(s) of campaign cams back in the queue (task ") &&
                 Catch::Contains("the serving coordinator (fp-coordinator serve, pid "));
  CHECK((*database()->find_campaign("cams"))->status == "running");
  auto mended_device = broken_device(endpoint2);
  mended_device.push_back("--leave-when-done");
  ChildProcess mended(mended_device, dir.file("mended.log"));
  auto mended_left = mended.wait(600s);
  serve_again.signal(SIGTERM);
  INFO(read_file(dir.file("serve2.log")));
  INFO(read_file(dir.file("mended.log")));
  REQUIRE(mended_left == 0);
  REQUIRE(serve_again.wait(30s) == 0);
  CHECK((*database()->find_campaign("cams"))->status == "done");
  auto after = database();
  auto retried = after->tasks();
  REQUIRE(retried.ok());
  for (const auto& t : *retried) CHECK(t.status == "done");
  auto mended_rows = after->telemetry();
  REQUIRE(mended_rows.ok());
  CHECK(std::count_if(mended_rows->begin(), mended_rows->end(), [](const auto& r) {
          return r.individual == "device=cam-broken" && r.method == "fine_prune";
        }) == 1);
  auto events = after->events();
  REQUIRE(events.ok());
  CHECK(std::any_of(events->begin(), events->end(), [](const store::EventRecord& e) {
    return e.kind == "retry" && e.detail.find("failed before: ") == 0 &&
           e.detail.find("2 not a readable image") != std::string::npos;
  }));
  CHECK(run({kCoordinator, "retry", "-c", config}, dir.file("retry-none.log")) == 0);
  CHECK_THAT(read_file(dir.file("retry-none.log")),
             Catch::Contains("no failed task in the database: nothing to retry"));

  // Every task on its data ended, a device started with --leave-when-done leaves while the
  // coordinator goes on serving (without the flag it waits for a next campaign).
  {
    ChildProcess serving(
        {kCoordinator, "serve", "-c", config, "--endpoint-file", dir.file("endpoint3")},
        dir.file("serve3.log"));
    const std::string endpoint3 = wait_for_file(dir.file("endpoint3"));
    REQUIRE(!endpoint3.empty());
    ChildProcess done(fleet.agent("cam", endpoint3,
                                  {"--dataset", "fashion-mnist", "--data", pics, "--work-dir",
                                   dir.file("cam-work"), "--leave-when-done"}),
                      dir.file("done.log"));
    auto left = done.wait(60s);
    serving.signal(SIGTERM);
    INFO(read_file(dir.file("done.log")));
    REQUIRE(left == 0);
    CHECK_THAT(read_file(dir.file("done.log")), Catch::Contains("agent cam: no task left for it"));
    CHECK(serving.wait(30s) == 0);
  }

  // The status table shows the unlabeled device without an accuracy.
  ChildProcess status({kCoordinator, "status", "-c", dir.file("fp.toml")}, dir.file("status.log"));
  REQUIRE(status.wait(30s) == 0);
  CHECK(std::regex_search(read_file(dir.file("status.log")),
                          std::regex("device=cam +cam +fine_prune .*unlabeled")));

  ChildProcess predict({kAgent, "predict", "--data", pics, "--work-dir", dir.file("cam-work")},
                       dir.file("predict.log"));
  REQUIRE(predict.wait(300s) == 0);
  auto got = predictions(read_file(dir.file("predict.log")));
  REQUIRE(got.size() == 300);
  std::set<std::string> classes;
  for (const auto& [file, p] : got) classes.insert(p.second);
  CHECK(classes.count("Trouser"));  // original class names from the spec

  // A name with a newline and a tab is one line, escaped: it cannot forge a prediction.
  const std::string odd = dir.file("odd-names");
  fs::create_directories(odd);
  fs::copy_file(pics + "/" + letters(1) + ".png", odd + "/two\n9\tforged\t1.000\nx.png");
  ChildProcess escaped({kAgent, "predict", "--data", odd, "--work-dir", dir.file("cam-work")},
                       dir.file("odd.log"));
  REQUIRE(escaped.wait(300s) == 0);
  auto lines = predictions(read_file(dir.file("odd.log")));
  REQUIRE(lines.size() == 1);
  CHECK(lines.begin()->first == "two\\n9\\tforged\\t1.000\\nx.png");
}
