// The fine-tuning baseline learns: on an individual whose labels differ from the general
// model's (a personal relabelling of three classes), the loss falls epoch by epoch and
// accuracy on that individual rises from near zero to near one; last-layer-only
// fine-tuning updates the classifier and nothing else.
#include <map>

#include "baselines/finetune.h"
#include "synthetic_clusters.h"
#include "train/evaluator.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

// Classes 1, 4, 8 of the general task, relabelled 4, 8, 1 by this individual.
Dataset relabelled(int64_t per_class, uint64_t seed) {
  Dataset d = testing::cluster_data({1, 4, 8}, per_class, seed);
  auto l = d.labels.clone();
  d.labels = torch::where(l == 1, torch::full_like(l, 4),
                          torch::where(l == 4, torch::full_like(l, 8), torch::full_like(l, 1)));
  return d;
}

double accuracy(PrunableNet& m, const Dataset& d) {
  auto r = evaluate(m, d);
  REQUIRE(r.ok());
  return r->accuracy;
}

}  // namespace

TEST_CASE("fine-tuning lowers the loss and raises accuracy on the individual", "[baselines]") {
  torch::set_num_threads(1);
  auto model = testing::trained_cluster_mlp();
  const Dataset train_part = relabelled(60, 41), held_out = relabelled(40, 42);
  const double before = accuracy(*model, held_out);
  CHECK(before < 0.1);  // the general model predicts the general labels

  FinetuneConfig cfg;
  cfg.train.epochs = 8;
  cfg.train.learning_rate = 0.05;
  std::vector<double> losses;
  auto report =
      finetune(*model, train_part, cfg, [&](int64_t, double loss) { losses.push_back(loss); });
  REQUIRE(report.ok());
  REQUIRE(losses.size() == 8);
  CHECK(losses.back() < 0.5 * losses.front());
  CHECK(report->final_loss == losses.back());
  CHECK(accuracy(*model, train_part) > 0.9);
  CHECK(accuracy(*model, held_out) > 0.9);  // learnt, not memorised
  CHECK(report->macs > 0);
}

TEST_CASE("last-layer fine-tuning changes only the classifier, and still learns", "[baselines]") {
  torch::set_num_threads(1);
  auto model = testing::trained_cluster_mlp();
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : model->named_parameters()) before[p.key()] = p.value().detach().clone();
  const Dataset train_part = relabelled(60, 43);
  FinetuneConfig cfg;
  cfg.last_layer_only = true;
  cfg.train.epochs = 8;
  cfg.train.learning_rate = 0.05;
  REQUIRE(finetune(*model, train_part, cfg).ok());
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    const bool classifier = p.key().rfind("fc_out", 0) == 0;
    CHECK(torch::equal(p.value(), before.at(p.key())) != classifier);
    CHECK(p.value().requires_grad());  // the freeze is undone afterwards
  }
  CHECK(accuracy(*model, relabelled(40, 44)) > 0.9);
}
