// The C++ side of bench/bench_vs_pytorch.py: Fine-Pruning one individual, step by step,
// with the same model and data a PyTorch script gets.
//
//   fp-bench vs_pytorch prepare --dir D   trains the general model, picks the individual
//                                         and writes D/general.fpm (fineprune),
//                                         D/general.{pt,json} (fp-agent export format) and
//                                         the individual's adaptation and evaluation
//                                         images and labels as Fashion-MNIST's own IDX
//                                         files, D/{adaptation,evaluation}-{images-idx3,
//                                         labels-idx1}-ubyte (what such a device holds)
//   fp-bench vs_pytorch run --dir D       loads them and runs record, select, prune,
//                                         evaluate the compact model (the default
//                                         Fine-Pruning of experiment/personalize),
//                                         printing one JSON line of per-step seconds
//                                         and results (--reload N: first time N more
//                                         loads of the model, each printed)
//   fp-bench vs_pytorch finetune --dir D  one epoch of backprop fine-tuning (the
//                                         comparison's labeled baseline), same JSON line
#include <fmt/format.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "bench_individual.h"
#include "bench_util.h"
#include "benchmarks.h"
#include "data/fashion_mnist.h"
#include "data/partition.h"
#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "models/torch_export.h"
#include "prune/activation_recorder.h"
#include "prune/pruner.h"
#include "prune/sparsity_selector.h"
#include "train/evaluator.h"
#include "train/trainer.h"
#include "util/compute_threads.h"

using fp::bench::seconds_since;
using namespace fp;
using Clock = std::chrono::steady_clock;

namespace {

int fail(const std::string& what) {
  fmt::print(stderr, "fp-bench vs_pytorch: {}\n", what);
  return 1;
}

std::string idx_path(const std::string& dir, const std::string& part, bool labels) {
  return dir + "/" + part + (labels ? "-labels-idx1-ubyte" : "-images-idx3-ubyte");
}

// Writes `data` as the IDX pair load_fashion_mnist_files reads: the normalisation undone
// and rounded back to the original bytes.
Status write_idx_pair(const Dataset& data, const std::string& dir, const std::string& part) {
  const int64_t n = data.size();
  auto bytes = (data.inputs * kFashionMnistStd + kFashionMnistMean)
                   .mul_(255.0f)
                   .round_()
                   .clamp_(0, 255)
                   .to(torch::kUInt8)
                   .contiguous();
  auto labels = data.labels.to(torch::kUInt8).contiguous();
  auto write = [](const std::string& path, const std::vector<uint32_t>& dims, const uint8_t* p,
                  int64_t size) {
    std::ofstream out(path, std::ios::binary);
    const uint8_t magic[4] = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
    out.write(reinterpret_cast<const char*>(magic), 4);
    for (uint32_t d : dims) {
      const uint8_t be[4] = {static_cast<uint8_t>(d >> 24), static_cast<uint8_t>(d >> 16),
                             static_cast<uint8_t>(d >> 8), static_cast<uint8_t>(d)};
      out.write(reinterpret_cast<const char*>(be), 4);
    }
    out.write(reinterpret_cast<const char*>(p), size);
    return out.good() ? Status::ok_status() : Status::io_error(path + ": cannot write");
  };
  const auto count = static_cast<uint32_t>(n);
  FP_RETURN_IF_ERROR(
      write(idx_path(dir, part, false), {count, 28, 28}, bytes.data_ptr<uint8_t>(), bytes.numel()));
  FP_RETURN_IF_ERROR(
      write(idx_path(dir, part, true), {count}, labels.data_ptr<uint8_t>(), labels.numel()));
  // The round trip must give the very inputs the individual was drawn with.
  FP_ASSIGN_OR_RETURN(Dataset back, load_fashion_mnist_files(idx_path(dir, part, false),
                                                             idx_path(dir, part, true)));
  if (!back.inputs.equal(data.inputs) || !back.labels.equal(data.labels))
    return Status::internal(dir + "/" + part + ": the IDX files do not read back as written");
  return Status::ok_status();
}

int prepare(const std::string& dir, const std::string& arch, double width, int64_t train_samples,
            int epochs, int64_t samples, uint64_t seed) {
  // Made first: a --dir whose folder was missing failed after the training.
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) return fail("--dir " + dir + " cannot be made: " + made.message());
  torch::manual_seed(seed);
  auto train_data = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTrain, train_samples);
  auto pool = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest);
  if (!train_data.ok() || !pool.ok()) return fail("cannot load Fashion-MNIST");
  ModelSpec spec;
  spec.arch = arch;
  spec.width_mult = width;
  auto general = build_model(spec);
  if (!general.ok()) return fail(general.status().message());
  TrainConfig tc;
  tc.epochs = epochs;
  tc.seed = seed;
  if (!train(**general, *train_data, tc).ok()) return fail("training failed");
  auto individual = bench::one_individual(*pool, samples, seed);
  if (!individual.ok()) return fail(individual.status().to_string());
  auto& [ind_name, adaptation, evaluation] = *individual;
  Status s = save_model(**general, dir + "/general.fpm");
  if (s.ok()) s = export_torch(**general, dir + "/general");
  if (!s.ok()) return fail(s.message());
  s = write_idx_pair(adaptation, dir, "adaptation");
  if (s.ok()) s = write_idx_pair(evaluation, dir, "evaluation");
  if (!s.ok()) return fail(s.message());
  fmt::print("{}: {} adaptation, {} evaluation samples of {}\n", dir, adaptation.size(),
             evaluation.size(), ind_name);
  return 0;
}

struct Loaded {
  ModelPtr model;
  torch::Tensor adaptation, evaluation, labels, adaptation_labels;
};

Result<Loaded> load(const std::string& dir, double* model_seconds) {
  Loaded l;
  const auto t = Clock::now();
  FP_ASSIGN_OR_RETURN(l.model, load_model(dir + "/general.fpm"));
  *model_seconds = seconds_since(t);
  FP_ASSIGN_OR_RETURN(Dataset adaptation,
                      load_fashion_mnist_files(idx_path(dir, "adaptation", false),
                                               idx_path(dir, "adaptation", true)));
  FP_ASSIGN_OR_RETURN(Dataset evaluation,
                      load_fashion_mnist_files(idx_path(dir, "evaluation", false),
                                               idx_path(dir, "evaluation", true)));
  l.adaptation = adaptation.inputs;
  l.adaptation_labels = adaptation.labels;  // fine-tuning only
  l.evaluation = evaluation.inputs;
  l.labels = evaluation.labels;
  return l;
}

int run(const std::string& dir, bool finetune_only, int reloads) {
  auto t = Clock::now();
  double t_model = 0;
  auto loaded = load(dir, &t_model);
  if (!loaded.ok()) return fail(loaded.status().message());
  PrunableNet& model = *loaded->model;
  const double t_load = seconds_since(t);
  // Loading the model again, after LibTorch's first use in this process: what the artifact
  // itself costs (read, SHA-256 and shape checks, model built).
  for (int i = 0; i < reloads; ++i) {
    const auto again = Clock::now();
    if (!load_model(dir + "/general.fpm").ok()) return fail("reload failed");
    fmt::print("model reloaded in {:.4f} s\n", seconds_since(again));
  }
  Dataset evaluation;
  evaluation.inputs = loaded->evaluation;
  evaluation.labels = loaded->labels;
  if (finetune_only) {
    // One epoch of backprop on the labeled adaptation data (Adam, batch 32, shuffled):
    // what fine-tuning costs per epoch, against the same loop in PyTorch.
    t = Clock::now();
    TrainConfig tc;
    tc.epochs = 1;
    tc.batch_size = 32;
    tc.learning_rate = 1e-3;
    Dataset adaptation;
    adaptation.inputs = loaded->adaptation;
    adaptation.labels = loaded->adaptation_labels;
    if (!train(model, adaptation, tc).ok()) return fail("fine-tuning failed");
    fmt::print("{{\"load\": {:.6f}, \"load_model\": {:.6f}, \"finetune_epoch\": {:.6f}}}\n", t_load,
               t_model, seconds_since(t));
    return 0;
  }
  PruneConfig prune;  // the defaults of experiment/personalize
  SelectorConfig selector;
  const torch::Tensor& inputs = loaded->adaptation;

  t = Clock::now();
  torch::Tensor logits;
  LayerStats stats = record_activations(model, inputs, prune.batch_size, false, &logits);
  const double t_record = seconds_since(t);

  t = Clock::now();
  const int64_t n = inputs.size(0);
  const int64_t held = std::max<int64_t>(1, std::llround(0.1 * n));
  // As experiment/personalize does: the held-out tail was recorded, so candidates that
  // prune only never-firing units reuse its dense logits.
  auto sel = select_sparsity(model, stats, inputs.slice(0, n - held), logits.slice(0, n - held),
                             prune, selector, /*heldout_recorded=*/true);
  if (!sel.ok()) return fail(sel.status().message());
  const double t_select = seconds_since(t);

  t = Clock::now();
  restore_masks(model, sel->chosen_masks);  // the selection pruned there already
  const double t_prune = seconds_since(t);

  // Evaluate what the device keeps and runs: the compact model (models/compact.h), built
  // within this step. The PyTorch script evaluates its masked model, as a script would.
  t = Clock::now();
  auto compacted = compact(model);
  if (!compacted.ok()) return fail(compacted.status().message());
  auto eval = evaluate(*compacted->model, evaluation);
  if (!eval.ok()) return fail(eval.status().message());
  const double t_eval = seconds_since(t);
  fmt::print(
      "{{\"load\": {:.6f}, \"load_model\": {:.6f}, \"record\": {:.6f}, \"select\": {:.6f}, "
      "\"prune\": {:.6f}, "
      "\"evaluate\": {:.6f}, \"chosen\": {}, \"sparsity\": {:.6f}, \"accuracy\": {:.6f}}}\n",
      t_load, t_model, t_record, t_select, t_prune, t_eval, sel->chosen,
      measure_sparsity(model).sparsity(), eval->accuracy);
  return 0;
}

}  // namespace

int fp::bench::vs_pytorch(int argc, char** argv) {
  CLI::App app{"The C++ side of bench/bench_vs_pytorch.py", "fp-bench vs_pytorch"};
  app.require_subcommand(1);
  std::string dir, arch = "cnn";
  int threads = 1, epochs = 2;
  double width = 1.0;
  int64_t train_samples = 12000, samples = 1000;
  uint64_t seed = 1;
  auto* prep = app.add_subcommand("prepare", "train the general model, write model and data");
  auto* run_cmd = app.add_subcommand("run", "Fine-Prune the individual, per-step JSON");
  auto* ft_cmd = app.add_subcommand("finetune", "one epoch of backprop, JSON");
  for (auto* c : {prep, run_cmd, ft_cmd}) {
    c->add_option("--dir", dir)->required();
    c->add_option("--threads", threads)->capture_default_str();
  }
  prep->add_option("--arch", arch)->capture_default_str();
  prep->add_option("--width", width)->capture_default_str();
  prep->add_option("--train-samples", train_samples)->capture_default_str();
  prep->add_option("--epochs", epochs)->capture_default_str();
  prep->add_option("--samples", samples, "individual's samples (half adaptation)")
      ->capture_default_str();
  prep->add_option("--seed", seed)->capture_default_str();
  int reloads = 0;
  run_cmd->add_option("--reload", reloads, "load the model this many more times, timing each")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  set_compute_threads(threads);
  if (prep->parsed()) return prepare(dir, arch, width, train_samples, epochs, samples, seed);
  return run(dir, ft_cmd->parsed(), reloads);
}
