// fp-coordinator train: train the general model on the general data and register it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "agent/local_data.h"
#include "config/cli_checks.h"
#include "coordinator/campaign_setup.h"
#include "coordinator_commands.h"
#include "data/file_decoder.h"
#include "train/general_model.h"
#include "train/train_config.h"
#include "util/clock.h"
#include "util/compute_threads.h"
#include "util/progress.h"

namespace fp::coord {
namespace {

struct TrainOptions {
  CommonOptions common;
  std::string dataset, data_dir, arch;
  double width = 0;
  int64_t epochs = 0, limit = -1;
  int threads = 0;
};

int run_train(const TrainOptions& o) {
  CoordinatorConfig cfg = config_for(o.common);
  TrainSection& t = cfg.train;
  if (!o.dataset.empty()) t.dataset = o.dataset;
  if (!o.data_dir.empty()) t.data_dir = o.data_dir;
  if (!o.arch.empty()) t.arch = o.arch;
  if (o.width > 0) t.width_mult = o.width;
  if (o.epochs > 0) t.epochs = o.epochs;
  if (o.limit >= 0) t.limit = o.limit;
  if (o.threads > 0) t.threads = o.threads;
  if (Status folder = check_models_folder(cfg); !folder.ok()) fail(folder, 2);  // before training
  // Opened before training too: a database path that could not be one failed after it, the
  // trained model not registered.
  auto store = open_database(cfg);
  const Dataset general = load_train_data(t, t.limit);
  // A random tenth of the general data is held out to report the model's accuracy.
  GeneralModelConfig gc;
  gc.arch = t.arch;
  gc.width_mult = t.width_mult;
  gc.threads = t.threads;
  gc.input = builtin_input_spec(t.dataset);  // devices decode their own files with it
  gc.train.epochs = t.epochs;
  gc.train.batch_size = t.batch_size;
  gc.train.learning_rate = t.learning_rate;
  gc.train.seed = t.seed;
  gc.validation_fraction = 0.1;
  gc.meta = {{"dataset", t.dataset},
             {"split_seed", std::to_string(t.split_seed)},
             {"general_fraction", fmt::format("{}", t.general_fraction)}};
  if (t.limit > general.size()) {
    spdlog::warn("[train] limit asks for {} samples, but only {} are there: training on those",
                 t.limit, general.size());
  }
  spdlog::info(
      "training {} (width {}) on {} {} samples (a tenth of them held out to report its "
      "accuracy), {} epoch(s), {} thread(s)",
      t.arch, t.width_mult, general.size(), t.dataset, t.epochs, t.threads);
  // A bar on a terminal; otherwise a log line per epoch (epochs are few and long).
  Progress::Options bar_or_lines;
  bar_or_lines.line_seconds = 0;
  Progress progress("training", t.epochs, bar_or_lines);
  auto trained = train_general_model(general, gc, [&](int64_t epoch, double loss) {
    progress.update(epoch, fmt::format("loss {:.4f}", loss));
  });
  progress.finish();
  if (!trained.ok()) {
    spdlog::error("{}", trained.status().to_string());
    return 1;
  }

  ModelRegistry registry(cfg.models_dir, *store);
  auto record = registry.add(trained->artifact, trained->spec.to_json(),
                             nlohmann::json(trained->meta).dump(), unix_now());
  if (!record.ok()) {
    spdlog::error("{}", record.status().to_string());
    return 1;
  }
  spdlog::info("validation accuracy {:.1f}% on {} held-out samples, {:.1f} s",
               100 * trained->validation_accuracy.value_or(0), trained->validation_samples,
               trained->report.wall_seconds);
  fmt::print("{}\n", record->sha256);
  warn_if_latest_moves_campaign(cfg, *store, record->sha256);
  return 0;
}

}  // namespace

Dataset load_train_data(const TrainSection& t, int64_t limit) {
  agent::LocalDataConfig data;
  data.dataset = t.dataset;
  data.data_dir = t.data_dir;
  data.channels = t.channels;
  data.height = t.height;
  data.width = t.width;
  data.general_fraction = t.general_fraction;
  data.split_seed = t.split_seed;
  auto general = agent::load_general_data(data, limit);
  if (!general.ok()) fail(general.status());
  return std::move(general).value();
}

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train", "Train the general model from [train] and register it; prints its SHA-256");
  add_common_options(cmd, o->common);
  cmd->add_option("--dataset", o->dataset, "fsdd, fashion-mnist or image-folder (default: fsdd)");
  cmd->add_option("--data-dir", o->data_dir, "data set directory (default: its usual place)");
  cmd->add_option("--arch", o->arch, "architecture: mlp, cnn, vgg7, resnet18, ... (default cnn)");
  cmd->add_option("--width", o->width, "width multiplier (default 1.0)")
      ->check(fp::config::positive());
  // As [train]'s: the command line skipped its bounds (--epochs 100000000 trained for 675 h).
  cmd->add_option("--epochs", o->epochs, "training epochs (default 3)")
      ->check(fp::config::at_least(1))
      ->check(fp::config::in_range(1, static_cast<double>(kMaxEpochs)));
  cmd->add_option("--limit", o->limit, "use at most this many general samples (0: all)")
      ->check(fp::config::at_least(0));
  cmd->add_option("--threads", o->threads, "LibTorch threads (default 2)")
      ->check(fp::config::in_range(1, kMaxComputeThreads));
  cmd->callback([o] { throw CLI::RuntimeError(run_train(*o)); });
}

}  // namespace fp::coord
