// Cost of personalizing one individual: (a) one inference pass over its adaptation data,
// (b) Fine-Pruning (recording + label-free sparsity choice + pruning), (c) backprop
// fine-tuning until its best evaluation accuracy. Wall time and multiply-accumulates.
#include <fmt/format.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>

#include "baselines/finetune.h"
#include "bench_individual.h"
#include "bench_util.h"
#include "benchmarks.h"
#include "config/cli_checks.h"
#include "data/fashion_mnist.h"
#include "data/partition.h"
#include "experiment/personalize.h"
#include "models/model_factory.h"
#include "prune/cost.h"
#include "train/evaluator.h"
#include "util/compute_threads.h"

using fp::bench::seconds_since;
using namespace fp;
using Clock = std::chrono::steady_clock;

int fp::bench::personalize_cost(int argc, char** argv) {
  CLI::App app{"Cost of personalizing one individual: inference, Fine-Pruning, fine-tuning",
               "fp-bench personalize_cost"};
  int threads = 1, epochs = 2, max_ft_epochs = 20, repeats = 3;
  int64_t train_samples = 12000, samples = 1000;
  std::string arch = "cnn";
  double width = 1.0;
  uint64_t seed = 1;
  std::string selector = "confidence";
  double output_usage = 0.05;
  int stop_after_ruled_out = SelectorConfig{}.stop_after_ruled_out;
  int stop_after_beaten = SelectorConfig{}.stop_after_beaten;
  int rule_out_parts = SelectorConfig{}.rule_out_parts;
  int64_t batch = PruneConfig{}.batch_size;
  int64_t statistics_samples = PersonalizeConfig{}.statistics_samples;
  app.add_option("--selector", selector, "pseudo_label, confidence or neg_entropy")
      ->capture_default_str();
  app.add_option("--output-usage", output_usage)->capture_default_str();
  app.add_option("--stop-after-ruled-out", stop_after_ruled_out,
                 "the selector's stop_after_ruled_out (0: score every candidate)")
      ->capture_default_str();
  app.add_option("--stop-after-beaten", stop_after_beaten,
                 "the selector's stop_after_beaten (0: off)")
      ->capture_default_str();
  app.add_option("--rule-out-parts", rule_out_parts,
                 "the selector's rule_out_parts (1: each candidate in one pass)")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--statistics-samples", statistics_samples,
                 "Fine-Pruning's statistics_samples (0: record on every adaptation sample)")
      ->check(fp::config::at_least(0))
      ->capture_default_str();
  app.add_option("--batch", batch,
                 "batch size of the inference pass (a) and of Fine-Pruning's recording pass")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--threads", threads)->check(fp::config::at_least(1))->capture_default_str();
  app.add_option("--arch", arch)->capture_default_str();
  app.add_option("--width", width)->check(fp::config::positive())->capture_default_str();
  app.add_option("--train-samples", train_samples)
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--epochs", epochs, "general model epochs")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--samples", samples, "individual's samples (half adaptation)")
      ->capture_default_str();
  app.add_option("--finetune-epochs", max_ft_epochs)
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--repeats", repeats, "timing repeats of (a) and (b); the minimum is kept")
      ->check(fp::config::at_least(1))
      ->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const auto score = parse_selection_score(selector);  // before minutes of training
  bench::require_ok(score.status(), "--selector");

  set_compute_threads(threads);
  torch::manual_seed(seed);
  auto train_data = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTrain, train_samples);
  auto pool = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest);
  bench::require_ok(train_data.status(), "--train-samples: Fashion-MNIST's training split");
  bench::require_ok(pool.status(), "Fashion-MNIST's test split");
  ModelSpec spec;
  spec.arch = arch;
  spec.width_mult = width;
  auto built = build_model(spec);
  bench::require_ok(built.status(), "--arch/--width");
  ModelPtr general = *built;
  TrainConfig tc;
  tc.epochs = epochs;
  tc.seed = seed;
  bench::require_ok(train(*general, *train_data, tc).status(), "training");

  auto individual = bench::one_individual(*pool, samples, seed);
  bench::require_ok(individual.status(), "the individual");
  auto& [ind_name, adaptation, evaluation] = *individual;
  const int64_t n = adaptation.size();
  const int64_t dense_macs = count_macs(*general).dense;

  // (a) one inference pass over the adaptation data and (b) Fine-Pruning on the unlabeled
  // inputs, timed in turn in each repeat, so that a drift of the machine (frequency, other
  // load) hits both alike; the minimum of each and the median of the per-repeat ratios are
  // reported.
  PersonalizeConfig cfg;
  cfg.run_finetune = false;
  cfg.run_svd = false;
  cfg.prune.output_usage_threshold = output_usage;
  cfg.selector.score = *score;
  cfg.selector.stop_after_ruled_out = stop_after_ruled_out;
  cfg.selector.stop_after_beaten = stop_after_beaten;
  cfg.selector.rule_out_parts = rule_out_parts;
  cfg.prune.batch_size = batch;
  cfg.statistics_samples = statistics_samples;
  double t_infer = 1e30, cpu_infer = 1e30, t_fp = 1e30, cpu_fp = 1e30;
  std::vector<double> cpu_ratios;
  PersonalizeResult fp_result;
  for (int r = 0; r < repeats; ++r) {
    auto start = Clock::now();
    const double cpu = fp::thread_cpu_seconds();
    predict_proba(*general, adaptation.inputs, batch);
    const double cpu_a = fp::thread_cpu_seconds() - cpu;
    t_infer = std::min(t_infer, seconds_since(start));
    cpu_infer = std::min(cpu_infer, cpu_a);
    auto res = personalize(*general, adaptation.without_labels(), evaluation, cfg).value();
    cpu_fp = std::min(cpu_fp, res.fine_prune.cpu_seconds);
    cpu_ratios.push_back(res.fine_prune.cpu_seconds / cpu_a);
    if (res.fine_prune.wall_seconds < t_fp) {
      t_fp = res.fine_prune.wall_seconds;
      fp_result = res;
    }
  }
  const int64_t macs_infer = dense_macs * n;
  std::sort(cpu_ratios.begin(), cpu_ratios.end());

  // (c) backprop fine-tuning, one epoch at a time, until its best evaluation accuracy.
  ModelPtr tuned = clone_model(*general);
  FinetuneConfig ft;
  ft.train.epochs = 1;
  double t_ft = 0, best_acc = evaluate(*tuned, evaluation).value().accuracy, t_best = 0;
  int64_t macs_ft = 0, macs_best = 0;
  int best_epoch = 0;
  for (int e = 1; e <= max_ft_epochs; ++e) {
    ft.train.seed = seed + e;
    auto rep = finetune(*tuned, adaptation, ft).value();
    t_ft += rep.wall_seconds;
    macs_ft += rep.macs;
    double acc = evaluate(*tuned, evaluation).value().accuracy;
    if (acc > best_acc) {
      best_acc = acc;
      best_epoch = e;
      t_best = t_ft;
      macs_best = macs_ft;
    }
  }

  fmt::print(
      "arch {} width {} | threads {} | selector {} (stop after {} ruled out, {} beaten, {} "
      "part(s)) | "
      "output usage {} | individual {} | adaptation {} (Fine-Pruning runs on {}) | evaluation {}\n",
      arch, width, threads, selector, stop_after_ruled_out, stop_after_beaten, rule_out_parts,
      output_usage, ind_name, n, fp_result.fine_prune_samples, evaluation.size());
  fmt::print("general accuracy {:.1f}%\n", 100 * fp_result.general.accuracy);
  fmt::print("(a) inference pass       {:8.3f} s  {:>14} MACs\n", t_infer, macs_infer);
  fmt::print(
      "(b) Fine-Pruning         {:8.3f} s  {:>14} MACs  accuracy {:.1f}% at sparsity {:.1f}%\n",
      t_fp, fp_result.fine_prune.compute_macs, 100 * fp_result.fine_prune.accuracy,
      100 * fp_result.fine_prune.sparsity);
  fmt::print(
      "(c) fine-tuning to best  {:8.3f} s  {:>14} MACs  accuracy {:.1f}% after {} epoch(s)\n",
      t_best, macs_best, 100 * best_acc, best_epoch);
  fmt::print("(b)/(a): time {:.2f}x, MACs {:.2f}x, CPU time {:.2f}x ({:.3f} s / {:.3f} s)\n",
             t_fp / t_infer, static_cast<double>(fp_result.fine_prune.compute_macs) / macs_infer,
             cpu_fp / cpu_infer, cpu_fp, cpu_infer);
  const SelectorResult& sel = fp_result.selection;
  fmt::print(
      "(b) parts (its fastest run, wall): record {:.4f} s, selection {:.4f} s (re-pruning "
      "{:.4f}, compact models {:.4f}, candidate passes {:.4f}), the rest {:.4f} s\n",
      fp_result.record_seconds, fp_result.select_seconds, sel.prune_seconds, sel.compact_seconds,
      sel.forward_seconds, t_fp - fp_result.record_seconds - fp_result.select_seconds);
  fmt::print(
      "(b) candidates (target: score; -inf ruled out, <= stopped below the bar, - not run), "
      "chose {}:{}\n",
      sel.chosen, format_candidate_scores(sel));
  fmt::print("(b)/(a) CPU time per repeat: median {:.2f}x, range {:.2f}-{:.2f}x over {}\n",
             cpu_ratios[cpu_ratios.size() / 2], cpu_ratios.front(), cpu_ratios.back(),
             cpu_ratios.size());
  if (best_epoch > 0)
    fmt::print("(c)/(b): time {:.1f}x, MACs {:.1f}x\n", t_best / t_fp,
               static_cast<double>(macs_best) / fp_result.fine_prune.compute_macs);
  else
    fmt::print("(c): fine-tuning never beat the general model\n");
  return 0;
}
