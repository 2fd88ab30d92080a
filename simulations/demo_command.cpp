#include "demo_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>

#include "config/cli_checks.h"
#include "data/fashion_mnist.h"
#include "data/file_decoder.h"
#include "data/partition.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "models/pruned_state.h"
#include "prune/cost.h"
#include "train/evaluator.h"
#include "train/general_model.h"
#include "util/compute_threads.h"
#include "util/file_io.h"

namespace fp {
namespace {

struct DemoOptions {
  std::string data_dir = kDefaultFashionMnistDir;
  std::string arch = "cnn";
  double width = 1.0;
  int64_t train_samples = 12000;
  int64_t epochs = 2;
  int64_t individuals = 3;
  int64_t k = 2;
  int64_t samples = 600;
  uint64_t seed = 1;
  int threads = 2;
  double target = -1;  // < 0: choose without labels
  std::string criterion = "energy";
  std::string scope = "global";
  std::string selector = "confidence";
  double output_usage = 0.05;
  std::string model_path;  // load if present, else train and save there
  std::string save_dir;    // if set: each individual's Fine-Pruned (masked) model is saved here
  // Given on the command line (checked against a --model that is loaded, not trained).
  bool arch_given = false, width_given = false, training_given = false;
};

// MAC cut: MACs/sample saved against the general model's; compact KB: the artifact of
// the model with its pruned units removed (models/compact.h).
void print_row(const MethodResult& m, int64_t general_macs) {
  const double cut =
      general_macs > 0 ? 1.0 - static_cast<double>(m.macs_per_sample) / general_macs : 0;
  fmt::print("  {:<11} {:>8.1f}% {:>9.1f}% {:>8.1f}% {:>10} {:>11} {:>10.1f} {:>9.2f} {:>13}\n",
             m.method, 100 * m.accuracy, 100 * m.sparsity, 100 * cut, m.parameters,
             m.macs_per_sample, m.compact_bytes / 1024.0, m.wall_seconds, m.compute_macs);
}

// The method's words, parsed before the general model is trained: a typo was found after
// the training (about a minute).
Result<PersonalizeConfig> demo_config(const DemoOptions& o) {
  PersonalizeConfig cfg;
  auto crit = parse_criterion(o.criterion);
  if (!crit.ok()) return Status::invalid_argument("--criterion: " + crit.status().message());
  auto scope = parse_scope(o.scope);
  if (!scope.ok()) return Status::invalid_argument("--scope: " + scope.status().message());
  auto score = parse_selection_score(o.selector);
  if (!score.ok()) return Status::invalid_argument("--selector: " + score.status().message());
  cfg.prune.criterion = *crit;
  cfg.prune.scope = *scope;
  cfg.prune.output_usage_threshold = o.output_usage;
  if (cfg.prune.criterion == Criterion::kActivationWeightedMagnitude)
    cfg.prune.granularity = Granularity::kWeight;
  cfg.selector.score = *score;
  cfg.select_sparsity = o.target < 0;
  if (!cfg.select_sparsity) cfg.prune.target_sparsity = o.target;
  cfg.sweep_targets = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  return cfg;
}

// A --model that exists is the general model: it must take Fashion-MNIST's images and
// classes, be no personalized (compact or masked) model, and agree with an --arch or --width given
// beside it (they were ignored without a word, the demo running another model than asked).
Status check_loaded_general(const DemoOptions& o, const PrunableNet& model) {
  const std::string what = "--model " + o.model_path;
  const ModelSpec& spec = model.spec();
  if (const std::string pruned = pruned_state(model); !pruned.empty())
    return Status::invalid_argument(what + " is a personalized model (" + pruned +
                                    "); give a general model, or a path where the demo trains "
                                    "and saves one");
  if (!builtin_input_shape("fashion-mnist")->fits(spec))
    return Status::invalid_argument(fmt::format(
        "{} takes {}x{}x{} inputs and {} classes; the demo runs on Fashion-MNIST (1x28x28, 10 "
        "classes)",
        what, spec.in_channels, spec.height, spec.width, spec.num_classes));
  if (o.arch_given && o.arch != spec.arch)
    return Status::invalid_argument(
        fmt::format("{} is a {} model, but --arch {} was given: drop --arch, or give a --model "
                    "path where the demo trains and saves a {}",
                    what, spec.arch, o.arch, o.arch));
  if (o.width_given && o.width != spec.width_mult)
    return Status::invalid_argument(
        fmt::format("{} has width {}, but --width {} was given: drop --width, or give another "
                    "--model path",
                    what, spec.width_mult, o.width));
  return Status::ok_status();
}

int run_demo(const DemoOptions& o) {
  auto config = demo_config(o);
  if (!config.ok()) {
    spdlog::error("{}", config.status().message());
    return 2;
  }
  const PersonalizeConfig& cfg = *config;
  // Made now: a file in the way was found after the training, as a filesystem exception.
  if (!o.save_dir.empty()) {
    if (Status made = make_output_folder(o.save_dir, "--save-models"); !made.ok()) {
      spdlog::error("{}", made.to_string());
      return 2;
    }
  }
  // A --model to be trained and saved: where it cannot be written was found after training.
  if (std::error_code ec; !o.model_path.empty() && !std::filesystem::exists(o.model_path, ec)) {
    if (Status target = check_later_output(o.model_path, "--model"); !target.ok()) {
      spdlog::error("{}", target.message());
      return 2;
    }
  }
  set_compute_threads(o.threads);
  torch::manual_seed(o.seed);
  auto train_data = load_fashion_mnist(o.data_dir, Split::kTrain, o.train_samples);
  auto pool = load_fashion_mnist(o.data_dir, Split::kTest);
  if (!train_data.ok() || !pool.ok()) {
    spdlog::error("{}", (!train_data.ok() ? train_data.status() : pool.status()).to_string());
    return 1;
  }

  ModelPtr general;
  if (!o.model_path.empty() && std::filesystem::exists(o.model_path)) {
    auto loaded = load_model(o.model_path);
    if (!loaded.ok()) {
      spdlog::error("{}", loaded.status().to_string());
      return 1;
    }
    if (Status fits = check_loaded_general(o, **loaded); !fits.ok()) {
      spdlog::error("{}", fits.message());
      return 2;
    }
    if (o.training_given)
      spdlog::warn("--model {} exists: it is loaded, and --train-samples/--epochs train nothing",
                   o.model_path);
    general = loaded.value();
    general->eval();
    spdlog::info("general model loaded from {}", o.model_path);
  } else {
    // The one training path of fp-coordinator train and fp-sim run: the model carries how a
    // device reads its files and the class names (without them fp-agent predict refused the
    // demo's saved models: "the model takes unspecified input").
    GeneralModelConfig gc;
    gc.arch = o.arch;
    gc.width_mult = o.width;
    gc.threads = o.threads;
    gc.input = fashion_mnist_input_spec();
    gc.train.epochs = o.epochs;
    gc.train.seed = o.seed;
    gc.meta = {{"dataset", "fashion-mnist"}, {"trained_by", "fp-sim demo"}};
    if (o.train_samples > train_data->size()) {
      spdlog::warn("--train-samples asks for {} images, but the training split holds {}",
                   o.train_samples, train_data->size());
    }
    spdlog::info("training general {} (width {}) on {} Fashion-MNIST training images, {} threads",
                 o.arch, o.width, train_data->size(), o.threads);
    auto trained = train_general_model(*train_data, gc, [](int64_t e, double loss) {
      spdlog::info("  epoch {} loss {:.4f}", e, loss);
    });
    auto built = trained.ok() ? deserialize_model(trained->artifact) : trained.status();
    if (!built.ok()) {
      spdlog::error("{}", built.status().to_string());
      return 1;
    }
    general = built.value();
    spdlog::info("trained in {:.1f} s", trained->report.wall_seconds);
    if (!o.model_path.empty()) {
      Status saved = make_parent_folder(o.model_path, "the general model");
      if (saved.ok()) saved = replace_file(o.model_path, trained->artifact, "the general model");
      if (!saved.ok()) spdlog::warn("{}", saved.to_string());
    }
  }
  auto general_eval = evaluate(*general, *pool);
  spdlog::info("general model: {:.1f}% on the 10-class test split", 100 * general_eval->accuracy);

  PartitionConfig pc;
  pc.method = PartitionMethod::kKClasses;
  pc.k = o.k;
  pc.num_individuals = o.individuals;
  pc.samples_per_individual = o.samples;
  pc.seed = o.seed;
  auto individuals = partition(pool->label_vector(), {}, pc);
  if (!individuals.ok()) {
    spdlog::error("{}", individuals.status().to_string());
    return 1;
  }

  double gain = 0, oracle_gap = 0, sparsity_gap = 0, ft_gain = 0;
  for (const auto& ind : *individuals) {
    Dataset adaptation = pool->select(ind.adaptation);
    Dataset evaluation = pool->select(ind.evaluation);
    auto r = personalize(*general, adaptation, evaluation, cfg);
    if (!r.ok()) {
      spdlog::error("{}: {}", ind.name, r.status().to_string());
      return 1;
    }
    std::string classes;
    for (auto c : ind.classes) classes += (classes.empty() ? "" : " + ") + pool->class_names[c];
    fmt::print("\nindividual {} ({}): {} unlabeled adaptation, {} labeled evaluation samples\n",
               ind.name, classes, r->adaptation_samples, r->evaluation_samples);
    fmt::print("  {:<11} {:>9} {:>10} {:>9} {:>10} {:>11} {:>10} {:>9} {:>13}\n", "method",
               "accuracy", "sparsity", "MAC cut", "weights", "MACs/sample", "compact KB",
               "time (s)", "compute MACs");
    for (const auto* m : {&r->general, &r->fine_prune, &r->finetune, &r->svd})
      print_row(*m, r->general.macs_per_sample);
    if (!o.save_dir.empty()) {
      const std::string path = o.save_dir + "/" + ind.name + ".fpm";
      auto saved = save_model(*r->personalized, path);
      if (saved.ok())
        fmt::print("  saved the Fine-Pruned model to {} (fp-agent compact --model {} --out ...)\n",
                   path, path);
      else
        spdlog::warn("{}", saved.to_string());
    }
    fmt::print("  label-free choice: sparsity {:.0f}%; best with labels: {:.0f}% ({:.1f}%)\n",
               100 * r->selection.chosen, 100 * r->oracle_sparsity, 100 * r->oracle_accuracy);
    gain += r->fine_prune.accuracy - r->general.accuracy;
    ft_gain += r->finetune.accuracy - r->general.accuracy;
    oracle_gap += r->oracle_accuracy - r->fine_prune.accuracy;
    sparsity_gap += std::abs(r->oracle_sparsity - r->fine_prune.sparsity);
  }
  const double n = static_cast<double>(individuals->size());
  fmt::print(
      "\nover {} individuals: Fine-Pruning gains {:+.1f} points (fine-tuning with labels {:+.1f});"
      "\nthe label-free choice is {:.1f} points below the best sparsity chosen with labels, "
      "{:.0f} sparsity points away on average\n",
      individuals->size(), 100 * gain / n, 100 * ft_gain / n, 100 * oracle_gap / n,
      100 * sparsity_gap / n);
  return 0;
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto opts = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo", "Train a general model, fine-prune 2-class individuals locally, compare baselines");
  cmd->add_option("--data", opts->data_dir, "Fashion-MNIST directory (gzip IDX files)")
      ->capture_default_str();
  auto* arch = cmd->add_option("--arch", opts->arch, "architecture (cnn, mlp, vgg7, resnet18, ...)")
                   ->capture_default_str();
  auto* width = cmd->add_option("--width", opts->width, "width multiplier")
                    ->check(fp::config::positive())
                    ->capture_default_str();
  // 0 read every training image and trained nothing, each without a word.
  auto* train_samples =
      cmd->add_option("--train-samples", opts->train_samples, "general training images")
          ->check(fp::config::at_least(1))
          ->capture_default_str();
  auto* epochs = cmd->add_option("--epochs", opts->epochs, "general training epochs")
                     ->check(fp::config::at_least(1))
                     ->capture_default_str();
  cmd->add_option("--individuals", opts->individuals, "individuals to personalize")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  cmd->add_option("--classes", opts->k, "classes per individual")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  cmd->add_option("--samples", opts->samples, "samples per individual (adaptation + evaluation)")
      ->check(fp::config::at_least(2))
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "seed for training and partitions")->capture_default_str();
  cmd->add_option("--threads", opts->threads, "LibTorch threads")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  // A negative target (-0.2) was taken as none given: the sparsity chosen without labels.
  cmd->add_option("--target", opts->target,
                  "fixed target sparsity in [0,1); default: chosen on the device without labels")
      ->check(fp::config::share_below_one());
  cmd->add_option("--criterion", opts->criterion,
                  "energy, mean, firing_rate or activation_weighted_magnitude")
      ->capture_default_str();
  cmd->add_option("--scope", opts->scope, "per_layer or global")->capture_default_str();
  cmd->add_option("--output-usage", opts->output_usage,
                  "prune output classes whose mean probability is below this (0: by rate)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--model", opts->model_path,
                  "general model artifact: loaded if it exists, else trained and saved there");
  cmd->add_option("--save-models", opts->save_dir,
                  "save each individual's Fine-Pruned model here (for fp-agent compact/export)");
  cmd->add_option("--selector", opts->selector,
                  "label-free sparsity choice: pseudo_label, confidence or neg_entropy")
      ->capture_default_str();
  cmd->callback([=]() {
    opts->arch_given = arch->count() > 0;
    opts->width_given = width->count() > 0;
    opts->training_given = train_samples->count() + epochs->count() > 0;
    throw CLI::RuntimeError(run_demo(*opts));
  });
}

}  // namespace fp
