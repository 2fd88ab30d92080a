// Fine-Pruning changes masks and nothing else: for every architecture of the zoo, the
// weights, biases and BatchNorm running statistics are bit-identical before and after
// recording activations, choosing a sparsity, pruning (one-shot and iterative) and a
// whole personalize() run.
#include <map>
#include <string>

#include "experiment/personalize.h"
#include "models/model_factory.h"
#include "prune/activation_recorder.h"
#include "prune/pruner.h"
#include "prune/sparsity_selector.h"
#include "test_spec.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

bool is_mask(const std::string& name) {
  auto ends_with = [&](const std::string& tail) {
    return name.size() >= tail.size() &&
           name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with("unit_mask") || ends_with("weight_mask");
}

// Every parameter and buffer that is not a mask, copied.
std::map<std::string, torch::Tensor> non_mask_state(const PrunableNet& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model.named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : model.named_buffers())
    if (!is_mask(b.key())) out[b.key()] = b.value().clone();
  return out;
}

void require_unchanged(const std::map<std::string, torch::Tensor>& before,
                       const PrunableNet& model) {
  auto after = non_mask_state(model);
  REQUIRE(after.size() == before.size());
  for (const auto& [name, tensor] : before) {
    INFO(name);
    REQUIRE(after.count(name) == 1);
    CHECK(torch::equal(after.at(name), tensor));  // bit for bit
  }
}

int64_t pruned_units(const PrunableNet& model) {
  int64_t n = 0;
  for (const auto& l : model.layers()) n += l->num_units() - l->num_active_units();
  return n;
}

}  // namespace

TEST_CASE("recording and pruning change only masks, in every architecture",
          "[prune][models][slow]") {
  torch::set_num_threads(2);
  size_t batch_norm_buffers = 0;
  for (const auto& arch : known_architectures()) {
    INFO(arch);
    torch::manual_seed(5);
    auto model = build_model(fp::testing::test_spec(arch, 1, 28, 28, 10, 0.125)).value();
    auto x = torch::randn({8, 1, 28, 28});
    {
      // Running statistics that are not the initial zeros and ones, as in a trained model,
      // and the model left in training mode: recording must not update them regardless.
      torch::NoGradGuard g;
      model->train();
      model->forward(x);
    }
    const auto before = non_mask_state(*model);
    for (const auto& [name, t] : before)
      batch_norm_buffers += name.find("running_mean") != std::string::npos;

    torch::Tensor logits;
    auto stats = record_activations(*model, x, 8, /*with_input_energy=*/true, &logits);
    require_unchanged(before, *model);

    PruneConfig cfg;
    SelectorConfig sel;
    sel.candidates = {0.0, 0.5};
    auto pick = select_sparsity(*model, stats, x, logits, cfg, sel);
    REQUIRE(pick.ok());
    require_unchanged(before, *model);
    CHECK(pruned_units(*model) == 0);  // the selector prunes copies, not the model

    cfg.target_sparsity = 0.3;
    REQUIRE(prune_with_stats(*model, stats, cfg).ok());
    require_unchanged(before, *model);
    CHECK(pruned_units(*model) > 0);

    cfg.schedule = Schedule::kIterative;
    cfg.iterative_steps = 2;
    cfg.target_sparsity = 0.5;
    REQUIRE(fine_prune(*model, x, cfg).ok());
    require_unchanged(before, *model);

    if (arch != "mlp" && arch != "cnn" && arch != "vgg7") continue;  // the costly ranking
    cfg.schedule = Schedule::kOneShot;
    cfg.criterion = Criterion::kActivationWeightedMagnitude;
    cfg.granularity = Granularity::kWeight;
    cfg.target_sparsity = 0.6;
    REQUIRE(fine_prune(*model, x, cfg).ok());
    require_unchanged(before, *model);
  }
  CHECK(batch_norm_buffers > 20);  // BatchNorm statistics were among what was compared
}

TEST_CASE(
    "personalize() leaves the general model untouched and keeps its weights in the pruned one",
    "[prune][models]") {
  torch::set_num_threads(2);
  torch::manual_seed(6);
  auto general = build_model(fp::testing::test_spec("vgg7", 1, 28, 28, 10, 0.125)).value();
  Dataset adaptation, evaluation;
  adaptation.inputs = torch::randn({20, 1, 28, 28});
  evaluation.inputs = torch::randn({10, 1, 28, 28});
  evaluation.labels = torch::randint(10, {10}, torch::kLong);
  {
    torch::NoGradGuard g;
    general->train();
    general->forward(adaptation.inputs);
  }
  const auto before = non_mask_state(*general);
  PersonalizeConfig cfg;
  cfg.run_finetune = false;  // the baselines change weights by design
  cfg.run_svd = false;
  cfg.selector.candidates = {0.0, 0.3, 0.6};
  auto r = personalize(*general, adaptation, evaluation, cfg);
  REQUIRE(r.ok());
  require_unchanged(before, *general);
  require_unchanged(before, *r->personalized);
  CHECK(pruned_units(*general) == 0);
}
