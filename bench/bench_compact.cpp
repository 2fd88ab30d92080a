// Compact models, measured: for every zoo model at fixed sparsities and at the sparsity
// the label-free selector chooses for one real individual, the parameters, MACs,
// artifact bytes and single-thread CPU latency of the dense general model, the masked
// pruned model and its compact model (batch 1 and 64; medians, warm-up excluded).
// Results: docs/BENCHMARKS.md ("Compact models").
#include <fmt/format.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "bench_individual.h"
#include "bench_util.h"
#include "benchmarks.h"
#include "data/fashion_mnist.h"
#include "data/file_decoder.h"
#include "data/partition.h"
#include "experiment/personalize.h"
#include "models/artifact.h"
#include "models/compact.h"
#include "models/model_factory.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "train/trainer.h"
#include "util/compute_threads.h"

using namespace fp;

namespace {

// The tensors compaction keeps, in bytes: parameters and BatchNorm running statistics.
int64_t kept_tensor_bytes(const PrunableNet& m) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters(true)) n += p.value().numel() * p.value().element_size();
  for (const auto& b : m.named_buffers(true))
    if (b.key().find("running_") != std::string::npos)
      n += b.value().numel() * b.value().element_size();
  return n;
}

// Bytes the model's tensors (parameters and buffers) hold in memory, each storage once: what
// a device keeps resident for it, masks and class maps included.
int64_t resident_tensor_bytes(const PrunableNet& m) {
  std::set<const void*> seen;
  int64_t n = 0;
  auto add = [&](const torch::Tensor& t) {
    if (t.defined() && seen.insert(t.storage().data()).second)
      n += static_cast<int64_t>(t.storage().nbytes());
  };
  for (const auto& p : m.named_parameters(true)) add(p.value());
  for (const auto& b : m.named_buffers(true)) add(b.value());
  return n;
}

// Widths that keep the whole benchmark to minutes on one loaded core.
double width_of(const std::string& arch) {
  if (arch == "mlp" || arch == "cnn") return 1.0;
  if (arch == "vgg7") return 0.5;
  if (arch == "vgg19" || arch == "resnet50") return 0.125;
  return 0.25;
}

struct Latency {
  double b1 = 0, b64 = 0;
};

Latency measure(PrunableNet& m, const torch::Tensor& x1, const torch::Tensor& x64, double budget) {
  return {median_latency(m, x1, 5, 15, budget), median_latency(m, x64, 2, 5, budget)};
}

}  // namespace

int fp::bench::compact(int argc, char** argv) {
  CLI::App app{"Compact models: parameters, MACs, artifact bytes, latency", "fp-bench compact"};
  std::vector<std::string> archs = known_architectures();
  int64_t train_samples = 2000, samples = 600;
  double budget = 0.6;
  uint64_t seed = 1;
  std::string save_dir;
  app.add_option("--archs", archs)->capture_default_str();
  app.add_option("--save-models", save_dir,
                 "write each model's label-free personalized (masked) model here as "
                 "<arch>_personalized.fpm (for fp-agent compact / export)");
  app.add_option("--train-samples", train_samples, "general model: 1 epoch on this many")
      ->capture_default_str();
  app.add_option("--samples", samples, "the individual's samples (half adaptation)")
      ->capture_default_str();
  app.add_option("--budget", budget,
                 "seconds of timed repeats per measurement (at least 15 "
                 "at batch 1, 5 at batch 64)")
      ->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  set_compute_threads(1);
  if (!save_dir.empty()) {  // made before the training, so a bad path fails at once
    std::error_code ec;
    std::filesystem::create_directories(save_dir, ec);
    if (ec) {
      fmt::print(stderr, "--save-models: cannot create folder {}: {}\n", save_dir, ec.message());
      return 1;
    }
  }

  auto train_data = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTrain, train_samples);
  auto pool = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest);
  if (!train_data.ok() || !pool.ok()) {
    fmt::print(stderr, "cannot load Fashion-MNIST from {}\n", kDefaultFashionMnistDir);
    return 1;
  }
  auto individual = bench::one_individual(*pool, samples, seed);
  bench::require_ok(individual.status(), "the individual");
  auto& [ind_name, adaptation, evaluation] = *individual;
  const torch::Tensor x1 = evaluation.inputs.slice(0, 0, 1);
  const torch::Tensor x64 = evaluation.inputs.slice(0, 0, 64);
  fmt::print("individual {}: {} adaptation, {} evaluation samples; 1 thread; latency medians\n\n",
             ind_name, adaptation.size(), evaluation.size());
  fmt::print(
      "| model | sparsity | acc | params dense -> compact | MACs dense | MACs compact (ratio) | "
      "artifact masked / compact / kept tensors | in memory masked / compact | "
      "b1 ms dense / masked / compact | "
      "b64 ms dense / masked / compact | latency ratio b1 / b64 vs MAC ratio | goal |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|---|---|---|\n");

  for (const auto& arch : archs) {
    ModelSpec spec;
    spec.arch = arch;
    spec.width_mult = width_of(arch);
    spec.input = fashion_mnist_input_spec();  // fp-agent predict runs a saved one on PNGs
    spec.class_names = train_data->class_names;
    torch::manual_seed(seed);
    auto built = build_model(spec);
    bench::require_ok(built.status(), arch);
    ModelPtr general = built.value();
    TrainConfig tc;
    tc.seed = seed;
    bench::require_ok(train(*general, *train_data, tc).status(), arch + ": training");
    general->eval();
    ModelPtr dense = clone_model(*general);
    for (PrunableLayer l : dense->layers()) l->fold_masks();  // plain: no mask multiplies
    const Latency dense_lat = measure(*dense, x1, x64, budget);
    const MacCount dense_macs = count_macs(*general);
    const int64_t dense_params = count_parameters(*general);

    // (label, masked model): fixed sparsities, then the label-free choice.
    std::vector<std::pair<std::string, ModelPtr>> variants;
    for (double s : {0.3, 0.5, 0.7}) {
      ModelPtr m = clone_model(*general);
      PruneConfig cfg;
      cfg.target_sparsity = s;
      bench::require_ok(fine_prune(*m, adaptation.inputs, cfg).status(), arch + ": fine_prune");
      variants.emplace_back(fmt::format("{:.0f}%", 100 * s), m);
    }
    PersonalizeConfig pcfg;
    pcfg.run_finetune = false;
    pcfg.run_svd = false;
    auto personal = personalize(*general, adaptation.without_labels(), evaluation, pcfg);
    bench::require_ok(personal.status(), arch + ": personalize");
    variants.emplace_back(fmt::format("chosen {:.0f}%", 100 * personal->selection.chosen),
                          personal->personalized);
    if (!save_dir.empty()) {
      const std::string path = save_dir + "/" + arch + "_personalized.fpm";
      bench::require_ok(save_model(*personal->personalized, path), "--save-models");
    }

    for (auto& [label, masked] : variants) {
      masked->eval();
      auto c = compact(*masked);
      if (!c.ok()) {
        fmt::print(stderr, "{}: {}\n", arch, c.status().to_string());
        return 1;
      }
      PrunableNet& cm = *c.value().model;
      const MacCount macs = count_macs(*masked);
      const double mac_ratio = static_cast<double>(macs.compact) / dense_macs.dense;
      const size_t masked_bytes = serialize_model(*masked).size();
      const size_t compact_bytes = serialize_model(cm).size();
      const int64_t kept = kept_tensor_bytes(cm);
      const Latency ml = measure(*masked, x1, x64, budget), cl = measure(cm, x1, x64, budget);
      const double r1 = cl.b1 / dense_lat.b1, r64 = cl.b64 / dense_lat.b64;
      const bool latency_ok = r64 <= 1.25 * mac_ratio;
      const bool bytes_ok = compact_bytes <= 1.1 * kept;
      const double acc = personal->fine_prune.accuracy;
      fmt::print(
          "| {} w{} | {} | {} | {} -> {} | {:.3g}M | {:.3g}M ({:.2f}) | {} / {} / {} | {} / {} | "
          "{:.3f} / {:.3f} / {:.3f} | {:.2f} / {:.2f} / {:.2f} | {:.2f} / {:.2f} vs {:.2f} | "
          "{}{} |\n",
          arch, spec.width_mult, label,
          label.rfind("chosen", 0) == 0 ? fmt::format("{:.1f}%", 100 * acc) : "-", dense_params,
          count_parameters(cm), dense_macs.dense / 1e6, macs.compact / 1e6, mac_ratio, masked_bytes,
          compact_bytes, kept, resident_tensor_bytes(*masked), resident_tensor_bytes(cm),
          1e3 * dense_lat.b1, 1e3 * ml.b1, 1e3 * cl.b1, 1e3 * dense_lat.b64, 1e3 * ml.b64,
          1e3 * cl.b64, r1, r64, mac_ratio, latency_ok ? "latency met" : "latency MISSED",
          bytes_ok ? ", size met" : ", size MISSED");
      std::fflush(stdout);
    }
  }
  return 0;
}
