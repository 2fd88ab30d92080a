// fp-coordinator train: train the general model on the general data and register it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "util/clock.h"
#include "agent/local_data.h"
#include "coordinator/campaign_setup.h"
#include "commands.h"
#include "data/file_decoder.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "train/evaluator.h"
#include "train/trainer.h"
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
  auto loaded = load_config(o.common.config);
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().to_string());
    return 2;
  }
  CoordinatorConfig cfg = std::move(loaded).value();
  TrainSection& t = cfg.train;
  if (!o.common.database.empty()) cfg.database = o.common.database;
  if (!o.common.models_dir.empty()) cfg.models_dir = o.common.models_dir;
  if (!o.dataset.empty()) t.dataset = o.dataset;
  if (!o.data_dir.empty()) t.data_dir = o.data_dir;
  if (!o.arch.empty()) t.arch = o.arch;
  if (o.width > 0) t.width_mult = o.width;
  if (o.epochs > 0) t.epochs = o.epochs;
  if (o.limit >= 0) t.limit = o.limit;
  if (o.threads > 0) t.threads = o.threads;
  torch::set_num_threads(t.threads);
  torch::manual_seed(t.seed);

  agent::LocalDataConfig data;
  data.dataset = t.dataset;
  data.data_dir = t.data_dir;
  data.general_fraction = t.general_fraction;
  data.split_seed = t.split_seed;
  auto general = agent::load_general_data(data, t.limit);
  if (!general.ok()) {
    spdlog::error("{}", general.status().to_string());
    return 1;
  }
  // A random tenth of the general data is held out to report the model's accuracy
  // (the data come sorted by class, so the tail alone would be one class).
  int64_t n_val = std::max<int64_t>(1, general->size() / 10);
  auto order = torch::randperm(general->size(), torch::kLong);
  std::vector<int64_t> shuffled(order.data_ptr<int64_t>(),
                                order.data_ptr<int64_t>() + order.numel());
  auto [train_set, val_set] = split_at(general->select(shuffled), general->size() - n_val);

  ModelSpec spec;
  spec.arch = t.arch;
  spec.width_mult = t.width_mult;
  spec.in_channels = general->inputs.size(1);
  spec.height = general->inputs.size(2);
  spec.width = general->inputs.size(3);
  spec.num_classes = general->num_classes();
  spec.input = builtin_input_spec(t.dataset);  // devices decode their own files with it
  spec.class_names = general->class_names;
  auto model = build_model(spec);
  if (!model.ok()) {
    spdlog::error("{}", model.status().to_string());
    return 1;
  }
  TrainConfig tc;
  tc.epochs = t.epochs;
  tc.batch_size = t.batch_size;
  tc.learning_rate = t.learning_rate;
  tc.seed = t.seed;
  spdlog::info("training {} (width {}) on {} {} samples, {} epoch(s), {} thread(s)", spec.arch,
               spec.width_mult, train_set.size(), t.dataset, t.epochs, t.threads);
  // A bar on a terminal; otherwise a log line per epoch (epochs are few and long).
  Progress::Options bar_or_lines;
  bar_or_lines.line_seconds = 0;
  Progress progress("training", t.epochs, bar_or_lines);
  auto report = train(**model, train_set, tc, [&](int64_t epoch, double loss) {
    progress.update(epoch, fmt::format("loss {:.4f}", loss));
  });
  progress.finish();
  if (!report.ok()) {
    spdlog::error("{}", report.status().to_string());
    return 1;
  }
  auto val = evaluate(**model, val_set);
  double accuracy = val.ok() ? val->accuracy : -1;
  std::map<std::string, std::string> meta = {
      {"dataset", t.dataset},
      {"train_samples", std::to_string(train_set.size())},
      {"epochs", std::to_string(t.epochs)},
      {"seed", std::to_string(t.seed)},
      {"split_seed", std::to_string(t.split_seed)},
      {"general_fraction", fmt::format("{}", t.general_fraction)},
      {"validation_accuracy", fmt::format("{:.4f}", accuracy)}};
  std::string bytes = serialize_model(**model, meta);

  auto store = store::Store::open(cfg.database);
  if (!store.ok()) {
    spdlog::error("{}", store.status().to_string());
    return 1;
  }
  ModelRegistry registry(cfg.models_dir, **store);
  auto record = registry.add(bytes, spec.to_json(), nlohmann::json(meta).dump(), unix_now());
  if (!record.ok()) {
    spdlog::error("{}", record.status().to_string());
    return 1;
  }
  spdlog::info("validation accuracy {:.1f}% on {} held-out samples, {:.1f} s", 100 * accuracy,
               val_set.size(), report->wall_seconds);
  fmt::print("{}\n", record->sha256);
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train", "Train the general model from [train] and register it; prints its SHA-256");
  add_common_options(cmd, o->common);
  cmd->add_option("--dataset", o->dataset, "fsdd or fashion-mnist (default: fsdd)");
  cmd->add_option("--data-dir", o->data_dir, "data set directory (default: its usual place)");
  cmd->add_option("--arch", o->arch, "architecture: mlp, cnn, vgg7, resnet18, ... (default cnn)");
  cmd->add_option("--width", o->width, "width multiplier (default 1.0)");
  cmd->add_option("--epochs", o->epochs, "training epochs (default 3)");
  cmd->add_option("--limit", o->limit, "use at most this many general samples (0: all)");
  cmd->add_option("--threads", o->threads, "LibTorch threads (default 2)");
  cmd->callback([o] { throw CLI::RuntimeError(run_train(*o)); });
}

}  // namespace fp::coord
