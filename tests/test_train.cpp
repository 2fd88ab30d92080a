// Training, evaluation and one individual's personalization on real Fashion-MNIST data.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <sstream>

#include "data/fashion_mnist.h"
#include "data/partition.h"
#include "experiment/personalize.h"
#include "models/model_factory.h"
#include "test_spec.h"
#include "train/evaluator.h"
#include "train/trainer.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

// A small CNN trained for a few seconds on 3000 images; shared by the tests below.
struct Trained {
  ModelPtr model;
  Dataset pool;  // test split: the individuals' unseen data
};

const Trained& trained_cnn() {
  static Trained t = [] {
    torch::set_num_threads(2);
    torch::manual_seed(3);
    auto train_data = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTrain, 3000);
    auto pool = load_fashion_mnist(kDefaultFashionMnistDir, Split::kTest, 4000);
    REQUIRE(train_data.ok());
    REQUIRE(pool.ok());
    auto model = build_model(fp::testing::test_spec("cnn", 1, 28, 28, 10, 0.5)).value();
    TrainConfig tc;
    tc.epochs = 2;
    REQUIRE(train(*model, *train_data, tc).ok());
    return Trained{model, *pool};
  }();
  return t;
}

// One 2-class individual of 400 test-split images (200 adaptation, 200 evaluation).
std::pair<Dataset, Dataset> one_individual(const Trained& t, uint64_t seed) {
  PartitionConfig pc;
  pc.num_individuals = 1;
  pc.samples_per_individual = 400;
  pc.seed = seed;
  auto inds = partition(t.pool.label_vector(), {}, pc);
  REQUIRE(inds.ok());
  return {t.pool.select(inds->front().adaptation), t.pool.select(inds->front().evaluation)};
}

}  // namespace

TEST_CASE("a small CNN trained for seconds beats chance by a wide margin") {
  const auto& t = trained_cnn();
  auto eval = evaluate(*t.model, t.pool);
  REQUIRE(eval.ok());
  CHECK(eval->accuracy > 0.6);  // chance is 0.1
  int64_t total = 0;
  for (const auto& row : eval->confusion)
    for (int64_t v : row) total += v;
  CHECK(total == t.pool.size());
  CHECK(eval->per_class_accuracy.size() == 10);
}

TEST_CASE("training refuses unlabeled data and unknown optimizers") {
  auto model = build_model(fp::testing::test_spec("mlp", 1, 28, 28, 10, 0.25)).value();
  Dataset d;
  d.inputs = torch::zeros({4, 1, 28, 28});
  CHECK_FALSE(train(*model, d, TrainConfig{}).ok());
  d.labels = torch::zeros({4}, torch::kLong);
  TrainConfig bad;
  bad.optimizer = "lbfgs-ish";
  auto r = train(*model, d, bad);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::Contains("lbfgs-ish"));

  // A loss that diverges is the settings' doing: named as such, with the learning rate.
  d.inputs = torch::randn({32, 1, 28, 28});
  d.labels = torch::randint(0, 10, {32}, torch::kLong);
  TrainConfig wild;
  wild.optimizer = "sgd";
  wild.learning_rate = 1e30;
  wild.epochs = 3;
  auto diverged = train(*model, d, wild);
  REQUIRE_FALSE(diverged.ok());
  CHECK(diverged.status().code() == Status::Code::kInvalidArgument);
  CHECK_THAT(diverged.status().message(),
             Catch::Contains("diverged") && Catch::Contains("learning rate 1e+30 (lower it)"));
}

TEST_CASE("training stops at the next batch once asked, with Cancelled") {
  auto model = build_model(fp::testing::test_spec("mlp", 1, 28, 28, 10, 0.25)).value();
  Dataset d;
  d.inputs = torch::randn({64, 1, 28, 28});
  d.labels = torch::randint(0, 10, {64}, torch::kLong);
  TrainConfig tc;
  tc.epochs = 5;
  tc.batch_size = 16;
  std::atomic<bool> stop{false};
  int epochs_seen = 0;
  // Asked during epoch 2's end: epoch 3 runs none of its batches.
  auto r = train(
      *model, d, tc,
      [&](int64_t epoch, double) {
        ++epochs_seen;
        if (epoch == 2) stop = true;
      },
      &stop);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kCancelled);
  CHECK_THAT(r.status().message(), Catch::Contains("epoch 3 of 5"));
  CHECK(epochs_seen == 2);

  // Asked before it starts: no weight moves.
  auto before = model->parameters().front().clone();
  auto none = train(*model, d, tc, {}, &stop);
  CHECK(none.status().code() == Status::Code::kCancelled);
  CHECK(torch::equal(before, model->parameters().front()));
  stop = false;
  CHECK(train(*model, d, tc, {}, &stop).ok());
  CHECK_FALSE(torch::equal(before, model->parameters().front()));
}

TEST_CASE("personalizing a 2-class individual prunes without labels and reports each method") {
  const auto& t = trained_cnn();
  const auto [adaptation, evaluation] = one_individual(t, 5);

  PersonalizeConfig cfg;
  cfg.select_sparsity = false;
  cfg.prune.target_sparsity = 0.5;
  // The paper's plain procedure, so that target 0 is exactly the dense model (the default
  // also removes the classes this individual does not use, at any target).
  cfg.prune.output_usage_threshold = 0.0;
  cfg.sweep_targets = {0.0, 0.5, 0.8};
  cfg.finetune.train.epochs = 1;
  auto r = personalize(*t.model, adaptation, evaluation, cfg);
  REQUIRE(r.ok());
  CHECK(r->general.sparsity == 0.0);
  CHECK(r->fine_prune.sparsity == Approx(0.5).margin(0.01));
  CHECK(r->fine_prune.parameters < r->general.parameters);
  CHECK(r->fine_prune.macs_per_sample < r->general.macs_per_sample);
  CHECK(r->svd.parameters <= r->fine_prune.parameters);
  CHECK(r->finetune.compute_macs > r->fine_prune.compute_macs);
  CHECK(r->sweep.size() == 3);
  CHECK(r->sweep[0].accuracy == Approx(r->general.accuracy));
  CHECK(r->sweep[1].accuracy == Approx(r->fine_prune.accuracy));  // same one-shot decision

  // With the label-free choice, the pruned model has the chosen sparsity.
  cfg.select_sparsity = true;
  auto chosen = personalize(*t.model, adaptation, evaluation, cfg);
  REQUIRE(chosen.ok());
  CHECK(chosen->fine_prune.sparsity == Approx(chosen->selection.chosen).margin(0.02));

  // Fine-Pruning reads no labels: the same result with the adaptation labels removed.
  cfg.run_finetune = false;
  auto unlabeled = personalize(*t.model, adaptation.without_labels(), evaluation, cfg);
  REQUIRE(unlabeled.ok());
  // (test_label_free.cpp proves it for every method with shuffled and garbage labels.)
  CHECK(unlabeled->fine_prune.accuracy == chosen->fine_prune.accuracy);
  CHECK(unlabeled->fine_prune.sparsity == chosen->fine_prune.sparsity);
  REQUIRE(unlabeled->selection.scores.size() == chosen->selection.scores.size());
  for (size_t i = 0; i < chosen->selection.scores.size(); ++i) {
    const double a = unlabeled->selection.scores[i], b = chosen->selection.scores[i];
    CHECK(((std::isnan(a) && std::isnan(b)) || a == b));
  }
  for (size_t i = 0; i < chosen->personalized->layers().size(); ++i)
    CHECK(torch::equal(unlabeled->personalized->layers()[i]->unit_mask(),
                       chosen->personalized->layers()[i]->unit_mask()));

  // The data-amount experiment: every method adapts on the first N samples only.
  cfg.run_finetune = true;
  cfg.max_adaptation_samples = 20;
  auto few = personalize(*t.model, adaptation, evaluation, cfg);
  REQUIRE(few.ok());
  CHECK(few->adaptation_samples == 20);
  CHECK(few->evaluation_samples == evaluation.size());
  CHECK(few->finetune.compute_macs < chosen->finetune.compute_macs);
  cfg.max_adaptation_samples = -1;
  CHECK_FALSE(personalize(*t.model, adaptation, evaluation, cfg).ok());
}

TEST_CASE(
    "Fine-Pruning records on at most statistics_samples samples, spread evenly, and the "
    "held-out tail") {
  // Row i of these inputs holds the value i, so the rows chosen can be read off.
  const torch::Tensor rows = torch::arange(200, torch::kFloat).view({200, 1, 1, 1});
  PersonalizeConfig cfg;  // held-out fraction 0.1: the last 20 rows
  cfg.statistics_samples = 60;
  FinePruneInputs spread = fine_prune_inputs(rows, cfg);
  CHECK(spread.heldout == 20);
  REQUIRE(spread.inputs.size(0) == 80);
  for (int64_t i = 0; i < 60; ++i) CHECK(spread.inputs[i].item<float>() == 3 * i);  // 180 / 60
  for (int64_t i = 0; i < 20; ++i) CHECK(spread.inputs[60 + i].item<float>() == 180 + i);
  for (int64_t cap : {int64_t{0}, int64_t{180}, int64_t{1000}}) {
    cfg.statistics_samples = cap;
    CHECK(fine_prune_inputs(rows, cfg).inputs.size(0) == 200);
  }
  // Any size and cap: rows in order, none twice, the first row always, the whole tail.
  for (int64_t n : {1, 2, 7, 10, 99, 200, 1001}) {
    const torch::Tensor numbered = torch::arange(n, torch::kFloat);
    for (int64_t cap : {1, 3, 64, 256}) {
      cfg.statistics_samples = cap;
      const FinePruneInputs got = fine_prune_inputs(numbered, cfg);
      const int64_t held = std::max<int64_t>(1, std::llround(0.1 * static_cast<double>(n)));
      INFO("n " << n << ", cap " << cap);
      CHECK(got.heldout == std::min(n, held));
      REQUIRE(got.inputs.size(0) == std::min(cap, n - got.heldout) + got.heldout);
      const auto picked = got.inputs.contiguous();
      const float* v = picked.data_ptr<float>();
      if (n - got.heldout > 0) CHECK(v[0] == 0);
      for (int64_t i = 1; i < picked.size(0); ++i) CHECK(v[i] > v[i - 1]);
      for (int64_t i = 0; i < got.heldout; ++i)
        CHECK(v[picked.size(0) - got.heldout + i] == static_cast<float>(n - got.heldout + i));
    }
  }

  const auto& t = trained_cnn();
  const auto [labeled, evaluation] = one_individual(t, 8);
  const Dataset adaptation = labeled.without_labels();
  cfg = PersonalizeConfig{};
  cfg.run_finetune = cfg.run_svd = false;
  cfg.select_sparsity = false;
  cfg.prune.target_sparsity = 0.5;
  cfg.statistics_samples = 30;
  auto capped = personalize(*t.model, adaptation, evaluation, cfg);
  REQUIRE(capped.ok());
  // The masks are those of the statistics of exactly those rows, and the passes ran on them.
  const FinePruneInputs used = fine_prune_inputs(adaptation.inputs, cfg);
  REQUIRE(used.inputs.size(0) == 30 + 20);
  ModelPtr expected = clone_model(*t.model);
  REQUIRE(prune_with_stats(*expected, record_activations(*expected, used.inputs), cfg.prune).ok());
  for (size_t i = 0; i < expected->layers().size(); ++i)
    CHECK(torch::equal(capped->personalized->layers()[i]->unit_mask(),
                       expected->layers()[i]->unit_mask()));
  cfg.statistics_samples = 0;
  auto all = personalize(*t.model, adaptation, evaluation, cfg);
  REQUIRE(all.ok());
  CHECK(capped->fine_prune.compute_macs * 200 == all->fine_prune.compute_macs * 50);
  CHECK(capped->adaptation_samples == 200);  // what the device had, not what it read
  CHECK(capped->fine_prune_samples == 50);
  CHECK(capped->heldout_samples == 20);
  CHECK(all->fine_prune_samples == 200);

  // A cap covering every row before the tail changes nothing; the selection runs too.
  cfg.select_sparsity = true;
  auto uncapped = personalize(*t.model, adaptation, evaluation, cfg);
  cfg.statistics_samples = 180;
  auto covering = personalize(*t.model, adaptation, evaluation, cfg);
  REQUIRE(uncapped.ok());
  REQUIRE(covering.ok());
  CHECK(covering->selection.chosen == uncapped->selection.chosen);
  CHECK(covering->fine_prune.accuracy == uncapped->fine_prune.accuracy);
  CHECK(covering->fine_prune.compute_macs == uncapped->fine_prune.compute_macs);
}

TEST_CASE("a fine-tuning baseline given too few labeled samples to validate says so") {
  const auto& t = trained_cnn();
  const auto [adaptation, evaluation] = one_individual(t, 7);
  PersonalizeConfig cfg;
  cfg.select_sparsity = false;
  cfg.prune.target_sparsity = 0.3;
  cfg.run_svd = false;
  cfg.max_adaptation_samples = 2;
  std::ostringstream said;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(said)));
  auto r = personalize(*t.model, adaptation, evaluation, cfg);
  spdlog::set_default_logger(previous);
  REQUIRE(r.ok());
  // The general model stood in: its accuracy, nothing trained. The log says why (a table
  // showing fine-tuning equal to the general model said nothing of it).
  CHECK(r->finetune_report.too_few_samples);
  CHECK(r->finetune.accuracy == r->general.accuracy);
  CHECK(r->finetune_report.backward_samples == 0);
  CHECK(said.str().find("finetune baseline: 2 labeled adaptation sample(s) are too few to hold "
                        "out a validation slice") != std::string::npos);
}
