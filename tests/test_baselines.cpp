// The fair baselines (common/baselines): tuned fine-tuning with a validation slice,
// and SVD with per-layer ranks from the spectrum.
#include "baselines/svd.h"
#include "baselines/tuned_finetune.h"
#include "models/model_factory.h"
#include "prune/cost.h"
#include "test_spec.h"
#include "train/evaluator.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

// 3 classes told apart by the brightness of three image bands.
Dataset banded(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  Dataset d;
  d.inputs = torch::randn({n, 1, 8, 8}) * 0.5;
  d.labels = torch::randint(0, 3, {n}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = d.labels[i].item<int64_t>();
    d.inputs[i][0].slice(0, c * 2, c * 2 + 3) += 1.5;
  }
  d.class_names = {"a", "b", "c"};
  return d;
}

bool same_weights(PrunableNet& a, PrunableNet& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& item : pa)
    if (!torch::equal(item.value(), pb[item.key()])) return false;
  auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& item : ba)
    if (!torch::equal(item.value(), bb[item.key()])) return false;
  return true;
}

}  // namespace

TEST_CASE("tuned fine-tuning learns on validation and counts the whole grid") {
  torch::manual_seed(1);
  auto general = build_model(fp::testing::test_spec("vgg7", 1, 8, 8, 3, 0.0625)).value();
  Dataset adaptation = banded(150, 2), evaluation = banded(150, 3);
  const double general_acc = evaluate(*general, evaluation).value().accuracy;
  auto tuned = clone_model(*general);
  TunedFinetuneConfig c;
  c.learning_rates = {1e-3, 1e-2};
  c.max_epochs = 6;
  auto r = tuned_finetune(*tuned, adaptation, c);
  REQUIRE(r.ok());
  CHECK(r->trials == 4);  // 2 rates x (BatchNorm training, frozen)
  CHECK(r->validation_samples == 30);
  CHECK(r->train_samples == 120);
  CHECK_FALSE(r->kept_general);
  CHECK(r->validation_accuracy > r->general_validation_accuracy);
  CHECK(r->best_epoch >= 1);
  // The grid's compute: every trial's backward passes, at 3x a forward pass.
  const int64_t macs = count_macs(*general).dense;
  CHECK(r->backward_samples >= 4 * 120);
  CHECK(r->compute_macs == macs * (3 * r->backward_samples + r->forward_samples));
  CHECK(evaluate(*tuned, evaluation).value().accuracy > general_acc + 0.1);
}

TEST_CASE("tuned fine-tuning keeps the general model when validation does not improve") {
  torch::manual_seed(4);
  auto general = build_model(fp::testing::test_spec("mlp", 1, 8, 8, 3, 0.125)).value();
  Dataset adaptation = banded(60, 5);
  auto tuned = clone_model(*general);
  TunedFinetuneConfig c;
  c.learning_rates = {1e-12};  // no step can change a prediction
  c.max_epochs = 2;
  auto r = tuned_finetune(*tuned, adaptation, c);
  REQUIRE(r.ok());
  CHECK(r->kept_general);
  CHECK(r->trials == 1);  // no BatchNorm: one mode
  CHECK(r->validation_accuracy == r->general_validation_accuracy);
  CHECK(same_weights(*tuned, *general));
  // Labels that contradict the inputs: whatever is chosen is no worse on validation.
  Dataset noise = adaptation;
  noise.labels = torch::randint(0, 3, {60}, torch::kLong);
  auto t2 = clone_model(*general);
  c.learning_rates = {1e-3, 1e-2};
  auto r2 = tuned_finetune(*t2, noise, c);
  REQUIRE(r2.ok());
  CHECK(r2->validation_accuracy >= r2->general_validation_accuracy);
  if (r2->kept_general) CHECK(same_weights(*t2, *general));

  CHECK_FALSE(tuned_finetune(*t2, adaptation.without_labels(), c).ok());
  // Two samples leave no validation slice beside a training part: nothing is trained, and
  // the report says why the general model stands.
  CHECK_FALSE(r->too_few_samples);
  auto t3 = clone_model(*general);
  auto tiny = tuned_finetune(*t3, adaptation.select({0, 1}), c);
  REQUIRE(tiny.ok());
  CHECK(tiny->too_few_samples);
  CHECK(tiny->kept_general);
  CHECK(tiny->trials == 0);
  CHECK(same_weights(*t3, *general));
  c.learning_rates = {};
  CHECK_FALSE(tuned_finetune(*t2, adaptation, c).ok());
}

TEST_CASE("SVD by energy is the identity at the dense budget") {
  torch::manual_seed(6);
  auto model = build_model(fp::testing::test_spec("vgg7", 1, 8, 8, 3, 0.0625)).value();
  auto x = torch::randn({16, 1, 8, 8});
  model->eval();
  auto reference = model->forward(x).detach();
  const int64_t dense = count_prunable_weights(*model);
  auto copy = clone_model(*model);
  auto r = svd_compress_by_energy(*copy, {SvdBudget::kParameters, dense, false});
  REQUIRE(r.ok());
  CHECK(r->identity);
  CHECK(r->parameters == dense);
  copy->eval();
  CHECK(torch::equal(copy->forward(x), reference));
  auto macs = clone_model(*model);
  auto rm = svd_compress_by_energy(*macs, {SvdBudget::kMacs, count_macs(*model).dense, false});
  REQUIRE(rm.ok());
  CHECK(rm->identity);
  CHECK_FALSE(svd_compress_by_energy(*copy, {SvdBudget::kParameters, 0, false}).ok());
}

TEST_CASE("SVD by energy gives each layer the rank its spectrum needs, within budget") {
  torch::manual_seed(8);
  auto model = build_model(fp::testing::test_spec("mlp", 1, 8, 8, 10, 0.5)).value();
  // fc1 made exactly rank 2: its energy sits in two directions.
  PrunableLayer fc1 = model->layers()[0];
  {
    torch::NoGradGuard g;
    auto w = fc1->weight();
    auto low = torch::randn({w.size(0), 2}).matmul(torch::randn({2, w.size(1)}));
    w.copy_(low);
  }
  const int64_t dense = count_prunable_weights(*model);
  auto x = torch::randn({32, 1, 8, 8});
  model->eval();
  auto reference = model->forward(x).detach();
  auto half = clone_model(*model);
  auto out_before = half->layers().back()->weight().clone();
  auto r = svd_compress_by_energy(*half, {SvdBudget::kParameters, dense / 2, false});
  REQUIRE(r.ok());
  CHECK_FALSE(r->identity);
  CHECK(r->parameters <= dense / 2);
  REQUIRE(r->ranks.size() == model->layers().size());
  CHECK(r->ranks[0] <= 2);                      // the rank-2 layer keeps at most its 2 directions
  CHECK((r->ranks[1] < 0 || r->ranks[1] > 2));  // the random one needs more
  CHECK(r->ranks.back() == -1);                 // the classifier is not truncated
  CHECK(torch::equal(half->layers().back()->weight(), out_before));
  // A smaller budget keeps less energy and errs more.
  auto tenth = clone_model(*model);
  auto r10 = svd_compress_by_energy(*tenth, {SvdBudget::kParameters, dense / 10, false});
  REQUIRE(r10.ok());
  CHECK(r10->energy_kept < r->energy_kept);
  half->eval();
  tenth->eval();
  auto err = [&](PrunableNet& m) { return (m.forward(x) - reference).norm().item<double>(); };
  CHECK(err(*half) < err(*tenth));
  // At equal MACs the MAC count is what is held to the budget.
  auto by_macs = clone_model(*model);
  const int64_t dense_macs = count_macs(*model).dense;
  auto rm = svd_compress_by_energy(*by_macs, {SvdBudget::kMacs, dense_macs / 3, false});
  REQUIRE(rm.ok());
  CHECK(rm->macs <= dense_macs / 3);
}
