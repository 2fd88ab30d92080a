// Fine-Pruning engine: activation statistics, pruning decisions, sparsity, cost.
#include "baselines/svd.h"
#include "models/model_factory.h"
#include "prune/activation_recorder.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "prune/sparsity_selector.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

// hidden: linear 2->3, ReLU, no bias; out: linear 3->2 (softmax output layer).
class TinyNet : public PrunableNet {
 public:
  TinyNet() : PrunableNet(ModelSpec{"mlp", 1, 1, 2, 2, 1.0}) {
    LayerOptions h;
    h.kind = LayerKind::kLinear;
    h.in = 2;
    h.out = 3;
    h.bias = false;
    hidden = add_layer("hidden", h);
    LayerOptions o = h;
    o.in = 3;
    o.out = 2;
    o.activation = Activation::kSoftmax;
    o.output_layer = true;
    out = add_layer("out", o);
  }
  torch::Tensor forward(torch::Tensor x) override { return out(hidden(x.flatten(1))); }
  PrunableLayer hidden{nullptr}, out{nullptr};
};

ModelPtr small_mlp() {
  torch::manual_seed(7);
  // fc1 16->64, fc2 64->32, fc_out 32->10
  return build_model(ModelSpec{"mlp", 1, 4, 4, 10, 0.25}).value();
}

std::vector<double> to_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

TEST_CASE("activation statistics equal hand-computed values for a linear layer") {
  TinyNet net;
  torch::NoGradGuard g;
  net.hidden->weight().copy_(torch::tensor({{1.f, 0.f}, {0.f, 1.f}, {1.f, -1.f}}));
  auto x = torch::tensor({{1.f, 2.f}, {3.f, -1.f}, {-2.f, 1.f}, {0.f, 0.f}});
  auto stats = record_activations(net, x, /*batch_size=*/3, /*with_input_energy=*/true);
  const auto& s = stats.at("hidden");
  // unit0 = relu(x0) = 1,3,0,0; unit1 = relu(x1) = 2,0,1,0; unit2 = relu(x0-x1) = 0,4,0,0
  CHECK(s.count == 4);
  CHECK(to_vec(s.mean()) == std::vector<double>{1.0, 0.75, 1.0});
  CHECK(to_vec(s.energy()) == std::vector<double>{2.5, 1.25, 4.0});
  CHECK(to_vec(s.firing_rate()) == std::vector<double>{0.5, 0.5, 0.25});
  CHECK(to_vec(s.input_energy()) == std::vector<double>{3.5, 1.5});
  // The output layer's statistics are over softmax probabilities: they sum to 1 per sample.
  CHECK(stats.at("out").mean().sum().item<double>() == Approx(1.0));
}

TEST_CASE("activation statistics aggregate over spatial positions of a convolution") {
  class ConvNet : public PrunableNet {
   public:
    ConvNet() : PrunableNet(ModelSpec{"cnn", 1, 2, 2, 2, 1.0}) {
      LayerOptions c;
      c.in = 1;
      c.out = 1;
      c.bias = false;
      conv = add_layer("conv", c);
    }
    torch::Tensor forward(torch::Tensor x) override { return conv(x); }
    PrunableLayer conv{nullptr};
  } net;
  torch::NoGradGuard g;
  net.conv->weight().fill_(2.0);
  auto x = torch::tensor({1.f, -1.f, 2.f, 0.f}).view({1, 1, 2, 2});
  auto s = record_activations(net, x).at("conv");  // outputs 2,0,4,0
  CHECK(s.count == 4);
  CHECK(s.samples == 1);
  CHECK(s.mean().item<double>() == 1.5);
  CHECK(s.energy().item<double>() == 5.0);
  CHECK(s.firing_rate().item<double>() == 0.5);
}

TEST_CASE("per-layer unit pruning hits the requested sparsity exactly and zeroes outputs") {
  auto model = small_mlp();
  auto x = torch::randn({64, 1, 4, 4});
  PruneConfig cfg;
  cfg.scope = Scope::kPerLayer;      // not the default (global)
  cfg.output_usage_threshold = 0.0;  // the plain procedure: every layer ranked alike
  cfg.target_sparsity = 0.5;
  auto report = fine_prune(*model, x, cfg);
  REQUIRE(report.ok());
  CHECK(report->sparsity() == 0.5);  // 32/64, 16/32 and 5/10 units: exactly half the weights
  CHECK(report->zeroed_weights * 2 == count_prunable_weights(*model));
  for (const auto& l : report->layers) CHECK(l.active_units * 2 == l.units);
  CHECK(report->overall_sparsity() < report->sparsity());  // biases count in the overall figure

  // Pruned units output exactly zero; pruned classes get probability exactly zero.
  auto after = record_activations(*model, x);
  for (size_t i = 0; i < model->layers().size(); ++i) {
    auto mask = model->layers()[i]->unit_mask();
    const auto& s = after.at(model->layer_names()[i]);
    CHECK(s.sum_sq.masked_select(mask == 0).abs().max().item<double>() == 0.0);
  }
}

TEST_CASE("per-layer pruning removes the lowest-energy units of each layer") {
  auto model = small_mlp();
  auto x = torch::randn({64, 1, 4, 4});
  auto stats = record_activations(*model, x);
  PruneConfig cfg;
  cfg.scope = Scope::kPerLayer;      // not the default (global)
  cfg.output_usage_threshold = 0.0;  // the plain procedure: every layer ranked alike
  cfg.target_sparsity = 0.25;
  REQUIRE(prune_with_stats(*model, stats, cfg).ok());
  for (size_t i = 0; i < model->layers().size(); ++i) {
    auto energy = stats.at(model->layer_names()[i]).energy();
    auto mask = model->layers()[i]->unit_mask();
    // Every pruned unit's energy is at most every kept unit's energy.
    CHECK(energy.masked_select(mask == 0).max().item<double>() <=
          energy.masked_select(mask > 0).min().item<double>());
  }
}

TEST_CASE("global ranking differs from per-layer ranking as it should") {
  auto model = small_mlp();
  LayerStats stats;
  auto make = [](torch::Tensor energy) {
    ActivationStats s;
    s.count = 1;
    s.samples = 1;
    s.sum = energy.clone();
    s.sum_sq = energy.clone();
    s.positive = torch::ones_like(energy);
    return s;
  };
  // fc1: every unit equally used. fc2: a few units carry all the energy.
  stats["fc1"] = make(torch::ones({64}, torch::kDouble));
  auto skewed = torch::full({32}, 1e-3, torch::kDouble);
  skewed.slice(0, 0, 4).fill_(10.0);
  stats["fc2"] = make(skewed);
  stats["fc_out"] = make(torch::ones({10}, torch::kDouble));

  PruneConfig cfg;
  cfg.scope = Scope::kPerLayer;      // not the default (global)
  cfg.output_usage_threshold = 0.0;  // the plain procedure: every layer ranked alike
  cfg.target_sparsity = 0.3;
  cfg.prune_output_layer = false;
  auto per_layer = clone_model(*model), global = clone_model(*model);
  REQUIRE(prune_with_stats(*per_layer, stats, cfg).ok());
  cfg.scope = Scope::kGlobal;
  REQUIRE(prune_with_stats(*global, stats, cfg).ok());

  auto fc2_pruned = [](PrunableNet& m) { return 32 - m.find_layer("fc2")->num_active_units(); };
  auto fc1_pruned = [](PrunableNet& m) { return 64 - m.find_layer("fc1")->num_active_units(); };
  // Per layer: the same share of both layers (up to rounding). Global: the unused fc2
  // units go first (64 weights each) until the goal is met, and fc1 keeps every unit.
  const int64_t goal = std::llround(0.3 * count_prunable_weights(*model));
  CHECK(std::abs(fc2_pruned(*per_layer) / 32.0 - fc1_pruned(*per_layer) / 64.0) <= 1.0 / 32);
  CHECK(fc1_pruned(*per_layer) > 0);
  CHECK(fc2_pruned(*global) == (goal + 63) / 64);
  CHECK(fc1_pruned(*global) == 0);
  CHECK(global->find_layer("fc_out")->num_active_units() == 10);  // protected output layer
  // Global reaches the target within one unit's weights.
  CHECK(measure_sparsity(*global).zeroed_weights >= goal);
  CHECK(measure_sparsity(*global).zeroed_weights < goal + 64);
}

TEST_CASE("weight-level activation-weighted magnitude pruning is exact and ranks |w|*sqrt(E_in)") {
  TinyNet net;
  {
    torch::NoGradGuard g;
    net.hidden->weight().copy_(torch::tensor({{1.f, 3.f}, {2.f, 0.5f}, {4.f, 0.1f}}));
  }
  // Input channel 0 has energy 4, channel 1 energy 0.25: scores |w|*2 and |w|*0.5.
  auto x = torch::tensor({{2.f, 0.5f}, {-2.f, -0.5f}});
  PruneConfig cfg;
  cfg.criterion = Criterion::kActivationWeightedMagnitude;
  cfg.granularity = Granularity::kWeight;
  cfg.prune_output_layer = false;
  cfg.target_sparsity = 3.0 / 12.0;  // 12 weights in all, 6 in `hidden`, output protected
  auto report = fine_prune(net, x, cfg);
  REQUIRE(report.ok());
  CHECK(report->zeroed_weights == 3);
  // Scores: [2, 1.5], [4, 0.25], [8, 0.05] -> the three column-1 weights go.
  auto mask = net.hidden->weight_mask();
  CHECK(to_vec(mask.flatten()) == std::vector<double>{1, 0, 1, 0, 1, 0});
}

TEST_CASE("the iterative schedule reaches the target and masks only grow") {
  auto model = small_mlp();
  auto x = torch::randn({64, 1, 4, 4});
  PruneConfig cfg;
  cfg.schedule = Schedule::kIterative;
  cfg.iterative_steps = 2;
  cfg.target_sparsity = 0.5;  // steps: 0.25 then 0.5, statistics re-recorded in between
  REQUIRE(fine_prune(*model, x, cfg).ok());
  CHECK(measure_sparsity(*model).sparsity() == 0.5);
  auto before = model->find_layer("fc1")->unit_mask().clone();
  cfg.target_sparsity = 0.25;  // lower than what is already pruned: nothing is restored
  REQUIRE(fine_prune(*model, x, cfg).ok());
  CHECK(torch::equal(before, model->find_layer("fc1")->unit_mask()));
}

TEST_CASE("output pruning by usage removes exactly the unused classes") {
  TinyNet net;
  auto x = torch::randn({32, 1, 1, 2});
  auto stats = record_activations(net, x);
  auto mean = stats.at("out").mean();  // two classes: mean probabilities sum to 1
  PruneConfig cfg;
  cfg.target_sparsity = 0.0;
  cfg.output_usage_threshold = std::min(mean[0].item<double>(), mean[1].item<double>()) + 1e-9;
  REQUIRE(prune_with_stats(net, stats, cfg).ok());
  // The less used class goes; the other stays (min_units_per_layer keeps one regardless).
  const int64_t less_used = mean[0].item<double>() < mean[1].item<double>() ? 0 : 1;
  CHECK(net.out->unit_mask()[less_used].item<double>() == 0.0);
  CHECK(net.out->unit_mask()[1 - less_used].item<double>() == 1.0);
  CHECK(net.hidden->num_active_units() == 3);  // target 0: hidden layers untouched
  cfg.output_usage_threshold = 1.0;
  CHECK_FALSE(cfg.validate().ok());
}

TEST_CASE("protected layers stay dense and bad configurations are refused") {
  auto model = small_mlp();
  auto x = torch::randn({16, 1, 4, 4});
  PruneConfig cfg;
  cfg.protected_layers = {"fc1"};
  cfg.target_sparsity = 0.2;
  REQUIRE(fine_prune(*model, x, cfg).ok());
  CHECK(model->find_layer("fc1")->num_active_units() == 64);
  CHECK(measure_sparsity(*model).sparsity() == Approx(0.2).margin(0.01));

  cfg.protected_layers = {"no_such_layer"};
  auto bad = fine_prune(*model, x, cfg);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("no_such_layer"));
  cfg.protected_layers = {"fc1", "fc2"};
  cfg.prune_output_layer = false;
  cfg.target_sparsity = 0.9;
  CHECK_FALSE(fine_prune(*model, x, cfg).ok());  // unreachable with fc1, fc2 and output dense
  cfg = PruneConfig{};
  cfg.target_sparsity = 1.0;
  CHECK_FALSE(cfg.validate().ok());
  CHECK_FALSE(PruneConfig::from_json(R"({"criterion":"loudness"})").ok());
  auto round = PruneConfig::from_json(PruneConfig{}.to_json());
  REQUIRE(round.ok());
  CHECK(round->to_json() == PruneConfig{}.to_json());
}

TEST_CASE("multiply-accumulates follow the architecture and shrink with pruning") {
  torch::manual_seed(1);
  auto model = build_model(ModelSpec{"cnn", 1, 28, 28, 10, 0.5}).value();  // 8, 16 ch, fc 32
  auto macs = count_macs(*model);
  const int64_t expect = 28 * 28 * 8 * 9 + 14 * 14 * 16 * 8 * 9 + 16 * 7 * 7 * 32 + 32 * 10;
  CHECK(macs.dense == expect);
  CHECK(macs.effective == expect);
  {
    torch::NoGradGuard g;
    model->find_layer("conv1")->unit_mask().slice(0, 0, 4).zero_();
  }
  CHECK(count_macs(*model).effective == expect - 28 * 28 * 4 * 9);
}

TEST_CASE("SVD truncation meets the parameter budget and degrades gracefully") {
  auto model = small_mlp();
  auto x = torch::randn({32, 1, 4, 4});
  model->eval();
  auto reference = model->forward(x).detach();
  const int64_t dense = count_prunable_weights(*model);

  auto full = clone_model(*model);
  auto r_full = svd_compress(*full, dense);
  REQUIRE(r_full.ok());
  CHECK(r_full->parameters <= dense);

  auto half = clone_model(*model), tenth = clone_model(*model);
  auto r_half = svd_compress(*half, dense / 2);
  auto r_tenth = svd_compress(*tenth, dense / 10);
  REQUIRE(r_half.ok());
  REQUIRE(r_tenth.ok());
  CHECK(r_half->parameters <= dense / 2);
  CHECK(r_tenth->parameters <= dense / 10);
  CHECK(r_tenth->rank_fraction < r_half->rank_fraction);
  auto err = [&](PrunableNet& m) { return (m.forward(x) - reference).norm().item<double>(); };
  CHECK(err(*half) < err(*tenth));
  CHECK_FALSE(svd_compress(*half, 0).ok());
}

TEST_CASE("the label-free selector chooses among the candidates with a stated rule") {
  auto model = small_mlp();
  auto x = torch::randn({128, 1, 4, 4});
  auto stats = record_activations(*model, x.slice(0, 0, 64));
  SelectorConfig sel;
  sel.candidates = {0.0, 0.3, 0.6, 0.9};
  sel.score = SelectionScore::kPseudoLabelAgreement;
  sel.min_agreement = 1.0;  // only candidates that change no confident prediction
  sel.bisection = false;
  auto r = select_sparsity(*model, stats, x.slice(0, 64), torch::Tensor(), PruneConfig{}, sel);
  REQUIRE(r.ok());
  REQUIRE(r->scores.size() == 4);
  CHECK(r->scores[0] == 1.0);  // the dense model agrees with itself
  // Every candidate runs on the same pseudo-labeled subset, at most the held-out 64.
  const int64_t subset = r->forward_samples / 4;
  CHECK(r->forward_samples == 4 * subset);
  CHECK(subset <= 64);
  size_t last_pass = 0;
  for (size_t i = 0; i < 4; ++i)
    if (r->scores[i] >= 1.0) last_pass = i;
  CHECK(r->chosen == r->candidates[last_pass]);

  // Bisection evaluates fewer candidates and, on monotone scores, agrees.
  sel.bisection = true;
  auto b = select_sparsity(*model, stats, x.slice(0, 64), torch::Tensor(), PruneConfig{}, sel);
  REQUIRE(b.ok());
  CHECK(b->forward_samples <= 2 * subset);
  bool monotone = true;
  for (size_t i = 1; i < 4; ++i) monotone = monotone && r->scores[i] <= r->scores[i - 1];
  if (monotone) CHECK(b->chosen == r->chosen);

  // Confidence: a candidate keeping one output class (90% of 10 pruned) would be certain
  // of everything; it is ruled out when the dense model uses two or more classes.
  sel.score = SelectionScore::kConfidence;
  auto c = select_sparsity(*model, stats, x.slice(0, 64), torch::Tensor(), PruneConfig{}, sel);
  REQUIRE(c.ok());
  auto counts = torch::bincount(model->forward(x.slice(0, 64)).argmax(1), {}, 10);
  if ((counts >= 7).sum().item<int64_t>() >= 2) {  // two classes with >= 10% of 64 samples
    CHECK(c->scores[3] == -std::numeric_limits<double>::infinity());
    CHECK(c->chosen < 0.9);
  }
  sel.candidates.clear();
  CHECK_FALSE(select_sparsity(*model, stats, x, torch::Tensor(), PruneConfig{}, sel).ok());
}
