// fp-coordinator register: add an existing model artifact to the registry, optionally
// measuring its shift-detector spread curve on the coordinator's general data first.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "config/cli_checks.h"
#include "coordinator/campaign_setup.h"
#include "coordinator_commands.h"
#include "data/dataset.h"
#include "train/general_model.h"
#include "util/clock.h"
#include "util/file_io.h"

namespace fp::coord {
namespace {

struct RegisterOptions {
  CommonOptions common;
  std::string path;
  bool calibrate = false;
  int64_t calibration_samples = 2000;
};

// A model trained elsewhere carries no spread curve, so devices would run it with the
// shift detector off. The curve is measured on a random sample of the general data that
// [train] names: ideally data the model did not train on (they make its softmax no more
// confident than an individual's will).
std::string calibrated(const CoordinatorConfig& cfg, const RegisterOptions& o,
                       const std::string& bytes) {
  const Dataset general = load_train_data(cfg.train, 0);
  std::vector<int64_t> order(static_cast<size_t>(general.size()));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(cfg.train.seed);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(static_cast<size_t>(std::min<int64_t>(o.calibration_samples, general.size())));
  const std::string source =
      fmt::format("{} general samples drawn at random (seed {}) at registration", cfg.train.dataset,
                  cfg.train.seed);
  auto artifact = calibrate_artifact(bytes, general.select(order), source, cfg.train.seed);
  if (!artifact.ok()) {
    fail(Status::invalid_argument("cannot calibrate " + o.path + ": " +
                                  artifact.status().message()));
  }
  spdlog::info("measured the shift detector's spread curve on {} {} samples", order.size(),
               cfg.train.dataset);
  return std::move(artifact).value();
}

}  // namespace

void add_register_command(CLI::App& app) {
  auto o = std::make_shared<RegisterOptions>();
  auto* cmd = app.add_subcommand("register", "Register an existing model artifact (.fpm)");
  add_common_options(cmd, o->common);
  cmd->add_option("artifact", o->path, "model artifact file")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--calibrate", o->calibrate,
                "measure the model's shift-detector spread curve on the general data of "
                "[train] and register the artifact with it (a new SHA-256)");
  cmd->add_option("--calibration-samples", o->calibration_samples,
                  "general samples to measure it on (default 2000)")
      ->check(fp::config::at_least(1));
  cmd->callback([o] {
    CoordinatorConfig cfg = config_for(o->common);
    auto bytes = read_regular_file(o->path, "model artifact");
    if (!bytes.ok()) fail(bytes.status());
    // Before the database is opened: a file that is not an artifact makes no database.
    if (Status usable = check_artifact_bytes(*bytes, o->path); !usable.ok()) fail(usable);
    const std::string artifact = o->calibrate ? calibrated(cfg, *o, *bytes) : *bytes;
    auto store = open_database(cfg);
    ModelRegistry registry(cfg.models_dir, *store);
    auto record = register_artifact_bytes(registry, artifact, o->path, unix_now());
    if (!record.ok()) fail(record.status());
    fmt::print("{}  {} bytes  {}\n", record->sha256, record->size_bytes, record->spec_json);
    warn_if_latest_moves_campaign(cfg, *store, record->sha256);
  });
}

}  // namespace fp::coord
