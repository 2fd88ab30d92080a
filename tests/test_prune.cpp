// Fine-Pruning engine: activation statistics, pruning decisions, sparsity, cost.
#include <fmt/format.h>

#include "baselines/svd.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "models/pruned_state.h"
#include "prune/activation_recorder.h"
#include "prune/cost.h"
#include "prune/pruner.h"
#include "prune/sparsity_selector.h"
#include "prune/sweep.h"
#include "test_spec.h"
#include "train/evaluator.h"
#include "util/program_main.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

using namespace fp;

namespace {

// hidden: linear 2->3, ReLU, no bias; out: linear 3->2 (softmax output layer).
class TinyNet : public PrunableNet {
 public:
  TinyNet() : PrunableNet(fp::testing::test_spec("mlp", 1, 1, 2, 2, 1.0)) {
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
  return build_model(fp::testing::test_spec("mlp", 1, 4, 4, 10, 0.25)).value();
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
    ConvNet() : PrunableNet(fp::testing::test_spec("cnn", 1, 2, 2, 2, 1.0)) {
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

TEST_CASE("each criterion removes its own least-used unit: energy, mean and firing rate") {
  // hidden: relu(w_i * x + b_i) of one input, over x = 0, 1, ..., 7; output protected.
  //   unit 0: 0.001 x + 0.5      mean 0.5035   energy 0.2535  firing rate 1
  //   unit 1: 0.75 x - 3.75      mean 0.28125  energy 0.3516  firing rate 0.25 (x = 6, 7)
  //   unit 2: 5 x - 30           mean 0.625    energy 3.125   firing rate 0.125 (x = 7)
  // so the lowest energy is unit 0, the lowest mean unit 1, the lowest firing rate unit 2.
  // No weight is zero, so the only zeroed weight is the pruned unit's.
  class OneInputNet : public PrunableNet {
   public:
    OneInputNet() : PrunableNet(fp::testing::test_spec("mlp", 1, 1, 1, 2, 1.0)) {
      hidden = add_layer("hidden", linear_options(1, 3));
      out = add_layer("out", classifier_options(3, 2));
      torch::NoGradGuard g;
      hidden->weight().copy_(torch::tensor({{0.001f}, {0.75f}, {5.f}}));
      hidden->bias().copy_(torch::tensor({0.5f, -3.75f, -30.f}));
      out->weight().fill_(0.3);
    }
    torch::Tensor forward(torch::Tensor x) override { return out(hidden(x.flatten(1))); }
    PrunableLayer hidden{nullptr}, out{nullptr};
  };
  const auto x = torch::arange(8, torch::kFloat).view({8, 1, 1, 1});

  const std::pair<Criterion, std::vector<double>> expected[] = {
      {Criterion::kEnergy, {0, 1, 1}},
      {Criterion::kMean, {1, 0, 1}},
      {Criterion::kFiringRate, {1, 1, 0}}};
  for (const auto& [criterion, mask] : expected) {
    for (auto scope : {Scope::kGlobal, Scope::kPerLayer}) {
      INFO(criterion_name(criterion) << " " << scope_name(scope));
      OneInputNet net;
      PruneConfig cfg;
      cfg.criterion = criterion;
      cfg.scope = scope;
      cfg.prune_output_layer = false;
      cfg.target_sparsity = 1.0 / 9.0;  // one hidden unit: 1 of 3 + 6 weights
      auto report = fine_prune(net, x, cfg);
      REQUIRE(report.ok());
      CHECK(report->zeroed_weights == 1);
      CHECK(to_vec(net.hidden->unit_mask()) == mask);
    }
  }
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

TEST_CASE("a general model holding zero weights already is noted, a dense one is not") {
  auto model = small_mlp();
  CHECK(pre_zeroed_note(*model).empty());
  const SparsityReport dense = measure_sparsity(*model);
  torch::NoGradGuard no_grad;
  // Zeros below 1% of the prunable weights (a weight that happens to be 0): no note.
  auto w = model->find_layer("fc1")->weight().view(-1);
  const int64_t few = dense.prunable_weights / 100 - 1;
  w.slice(0, 0, few).zero_();
  CHECK(pre_zeroed_note(*model).empty());
  // fc1's weights all zero, no unit masked: the note names the share its sparsity counts.
  w.zero_();
  const SparsityReport zeroed = measure_sparsity(*model);
  REQUIRE(zeroed.zeroed_weights == w.numel());
  CHECK(pruned_state(*model).empty());  // not a personalized model: nothing is masked
  CHECK(pre_zeroed_note(*model) ==
        fmt::format("{} of its {} prunable weights are zero already ({:.1f}%): sparsity counts "
                    "them, as the paper's measure does, so it reads {:.1f}% before any unit is "
                    "removed and a sparsity target is met by removing fewer units than on a "
                    "dense model",
                    zeroed.zeroed_weights, zeroed.prunable_weights, 100 * zeroed.sparsity(),
                    100 * zeroed.sparsity()));
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
  auto model =
      build_model(fp::testing::test_spec("cnn", 1, 28, 28, 10, 0.5)).value();  // 8, 16 ch, fc 32
  auto macs = count_macs(*model);
  const int64_t expect = 28 * 28 * 8 * 9 + 14 * 14 * 16 * 8 * 9 + 16 * 7 * 7 * 32 + 32 * 10;
  CHECK(macs.dense == expect);
  CHECK(macs.effective == expect);
  {
    torch::NoGradGuard g;
    model->find_layer("conv1")->unit_mask().slice(0, 0, 4).zero_();
  }
  // Honest MACs (issue 14): the 4 pruned conv1 channels go, and so do conv2's 4 input
  // channels that read them.
  CHECK(count_macs(*model).effective == expect - 28 * 28 * 4 * 9 - 14 * 14 * 16 * 4 * 9);
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
  // The full budget rebuilds the original: every layer and the outputs, up to rounding.
  for (size_t i = 0; i < model->layers().size(); ++i) {
    INFO(model->layer_names()[i]);
    CHECK(torch::allclose(full->layers()[i]->weight(), model->layers()[i]->weight(), 1e-5, 1e-6));
  }
  CHECK(torch::allclose(full->forward(x), reference, 1e-4, 1e-5));

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

TEST_CASE("SVD at the full budget rebuilds a model with a wide classifier") {
  // 10 classes over 128 features: a rank-9 factorisation (9 x 138 numbers) is cheaper
  // than the dense 10 x 128, so "the largest fraction that fits" must really be rank 10.
  torch::manual_seed(8);
  auto model = build_model(fp::testing::test_spec("mlp", 1, 8, 8, 10, 1.0)).value();
  const auto& out = model->layers().back();
  REQUIRE(out->weights_per_unit() > 90);
  model->eval();
  auto x = torch::randn({16, 1, 8, 8});
  auto reference = model->forward(x).detach();
  auto full = clone_model(*model);
  auto r = svd_compress(*full, count_prunable_weights(*model));
  REQUIRE(r.ok());
  CHECK(r->rank_fraction == 1.0);
  CHECK(torch::allclose(full->layers().back()->weight(), out->weight(), 1e-5, 1e-6));
  CHECK(torch::allclose(full->forward(x), reference, 1e-4, 1e-5));
}

namespace {

// A zoo MLP whose best label-free sparsity is known by construction (fc1 16->8, fc2 8->4,
// fc_out 4->4; every weight non-zero, so that only pruning zeroes weights). Inputs use
// features 0..3. fc1 unit i (< 4) is relu(x_i + ...), unit 4 + i is relu(-x_i - ...);
// fc2 unit c adds units c and 4 + c; class c's logit is 10 * fc2 unit c. The
// individual's inputs are positive with one dominant coordinate (its class), so fc1 units
// 4..7 never fire on them: pruning that block (64 of 176 weights) changes no output, and
// pruning any live fc1 unit sends every sample of its class to another class. fc2 and
// the output layer are protected, so fc1 is the layer the selector must get right.
ModelPtr block_mlp() {
  auto model = build_model(fp::testing::test_spec("mlp", 1, 4, 4, 4, 8.0 / 256)).value();
  torch::NoGradGuard g;
  auto w1 = torch::full({8, 16}, 0.01);
  for (int64_t i = 0; i < 4; ++i) {
    w1.slice(0, 4 + i, 5 + i).slice(1, 0, 4).fill_(-0.01);  // the dead unit stays dead
    w1[i][i] = 1.0;
    w1[4 + i][i] = -1.0;
  }
  auto w2 = torch::full({4, 8}, 0.01);
  for (int64_t c = 0; c < 4; ++c) w2[c][c] = w2[c][4 + c] = 1.0;
  auto w3 = torch::full({4, 4}, 0.01) + 9.99 * torch::eye(4);
  model->find_layer("fc1")->weight().copy_(w1);
  model->find_layer("fc2")->weight().copy_(w2);
  model->find_layer("fc_out")->weight().copy_(w3);
  for (auto l : model->layers()) l->bias().zero_();
  return model;
}

// `per_class` samples of each class: 0.1..0.2 on features 0..3, 1 more on the class's.
torch::Tensor block_inputs(int64_t per_class) {
  torch::manual_seed(3);
  auto x = torch::zeros({4 * per_class, 16});
  x.slice(1, 0, 4).copy_(0.1 + 0.1 * torch::rand({4 * per_class, 4}));
  for (int64_t i = 0; i < 4 * per_class; ++i) x[i][i % 4] += 1.0;
  return x.view({-1, 1, 4, 4});
}

}  // namespace

TEST_CASE("the label-free selector finds the sparsity that removes exactly the unused block") {
  auto model = block_mlp();
  PrunableNet& net = *model;
  const auto x = block_inputs(16);
  auto stats = record_activations(net, x);
  // The construction holds: units 4..7 never fire, units 0..3 always do.
  CHECK(to_vec(stats.at("fc1").firing_rate()) == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(measure_sparsity(net).zeroed_weights == 0);
  CHECK(measure_sparsity(net).prunable_weights == 176);

  PruneConfig cfg;
  cfg.prune_output_layer = false;
  cfg.protected_layers = {"fc2"};
  SelectorConfig sel;
  // Two and four fc1 units (16 weights each) are the dead block's half and whole; five and
  // seven cut into live units.
  const double dead = 64.0 / 176;
  sel.candidates = {0.0, 32.0 / 176, dead, 80.0 / 176, 112.0 / 176};
  sel.min_agreement = 1.0;  // only candidates that change no confident prediction
  sel.score = SelectionScore::kPseudoLabelAgreement;

  SECTION("pseudo-label agreement, every candidate scored") {
    sel.bisection = false;
    auto r = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
    REQUIRE(r.ok());
    CHECK(r->chosen == dead);
    // One live class lost at 0.3125, three at 0.4375: macro agreement 3/4 and 1/4.
    CHECK(r->scores == std::vector<double>{1.0, 1.0, 1.0, 0.75, 0.25});
    // Half of each class's 16 samples are confident; candidate 0 prunes nothing, so it
    // reuses the dense logits and runs no pass.
    CHECK(r->forward_samples == 4 * 32);
  }
  SECTION("a candidate past what the layers left dense allow is ruled out, not an error") {
    // fc2 and the output layer dense: at most fc1's 128 of 176 weights. Such a candidate
    // failed the selection, and every task of a campaign whose grid reached past it.
    sel.candidates.push_back(0.9);
    const double out = -std::numeric_limits<double>::infinity();  // ruled out
    for (bool bisection : {false, true}) {
      INFO("bisection " << bisection);
      sel.bisection = bisection;
      auto r = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
      INFO(r.status().to_string());
      REQUIRE(r.ok());
      CHECK(r->chosen == dead);
      CHECK((std::isnan(r->scores.back()) || r->scores.back() == out));
    }
    sel.score = SelectionScore::kConfidence;
    sel.stop_after_ruled_out = 0;  // run all
    sel.stop_after_beaten = 0;
    auto confidence = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
    INFO(confidence.status().to_string());
    REQUIRE(confidence.ok());
    CHECK(confidence->scores.back() == out);
    CHECK(confidence->chosen < 0.9);
    // The sweep leaves that point out and measures the others.
    Dataset evaluation;
    evaluation.inputs = x;
    evaluation.labels = torch::arange(x.size(0)) % 4;
    evaluation.class_names = {"a", "b", "c", "d"};
    PruneConfig swept = cfg;
    auto points = sparsity_sweep(net, stats, evaluation, swept, {dead, 0.9, 0.0});
    INFO(points.status().to_string());
    REQUIRE(points.ok());
    REQUIRE(points->size() == 2);
    CHECK((*points)[0].target == dead);
    CHECK((*points)[0].sparsity == Approx(dead));
    CHECK((*points)[1].target == 0.0);
    // A fixed target there is still refused, saying so.
    swept.target_sparsity = 0.9;
    CHECK_THAT(prune_with_stats(*clone_model(net), stats, swept).message(),
               Catch::Contains("unreachable"));
  }
  SECTION("pseudo-label agreement by bisection: the same answer from fewer passes") {
    sel.bisection = true;
    auto r = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
    REQUIRE(r.ok());
    CHECK(r->chosen == dead);
    CHECK(r->forward_samples < 5 * 32);
  }
  for (auto score : {SelectionScore::kConfidence, SelectionScore::kNegEntropy}) {
    SECTION(std::string("score ") + selection_score_name(score)) {
      sel.score = score;
      // A third candidate that cuts live units: six fc1 units.
      sel.candidates.insert(sel.candidates.begin() + 4, 96.0 / 176);
      sel.stop_after_ruled_out = 0;  // run all
      sel.stop_after_beaten = 0;
      sel.rule_out_parts = 1;  // each in one whole pass
      auto all = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
      REQUIRE(all.ok());
      CHECK(all->chosen == dead);
      // The dead block's candidates score as the dense model (exactly with the reference
      // BLAS; an optimized one sums the compact model's shorter rows in another order, so
      // to float rounding); the others lose a class the individual uses and are ruled out.
      REQUIRE(all->scores.size() == 6);
      CHECK(all->scores[1] == Approx(all->scores[0]).epsilon(1e-6));
      CHECK(all->scores[2] == Approx(all->scores[0]).epsilon(1e-6));
      const double ruled_out = -std::numeric_limits<double>::infinity();
      CHECK(all->scores[3] == ruled_out);
      CHECK(all->scores[4] == ruled_out);
      CHECK(all->scores[5] == ruled_out);
      CHECK(all->forward_samples == 5 * x.size(0));

      // Stopping after 2 (the default) or 1 ruled-out candidates in a row: the same
      // choice and scores, the sparser candidates not run.
      for (int stop_after : {2, 1}) {
        sel.stop_after_ruled_out = stop_after;
        auto stopped = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
        REQUIRE(stopped.ok());
        CHECK(stopped->chosen == dead);
        const size_t last_run = 2 + stop_after;
        for (size_t i = 0; i <= last_run; ++i) CHECK(stopped->scores[i] == all->scores[i]);
        for (size_t i = last_run + 1; i < 6; ++i) CHECK(std::isnan(stopped->scores[i]));
        CHECK(stopped->forward_samples == static_cast<int64_t>(last_run) * x.size(0));
        CHECK(stopped->forward_macs < all->forward_macs);
      }

      // Run in parts, a candidate stops once its guards must fail: the same scores, the
      // ruled-out candidates cheaper. The classes alternate in `x`; no more than 51 of its 64
      // predictions may change (min_dense_agreement 0.8). Five fc1 units cut lose one class
      // (every 4th prediction changes), six lose two, seven three.
      sel.stop_after_ruled_out = 0;
      for (int parts : {2, 4, 64}) {
        INFO(parts << " parts");
        sel.rule_out_parts = parts;
        auto early = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
        REQUIRE(early.ok());
        CHECK(early->chosen == dead);
        CHECK(early->scores == all->scores);
        CHECK(early->forward_macs < all->forward_macs);
        if (parts < 64) {
          // Two passing candidates and the five-unit one whole (its first 48 predictions
          // leave 52 that may agree); the six- and seven-unit ones stop after 32.
          CHECK(early->forward_samples == 3 * x.size(0) + 2 * 32);
        } else {
          // One sample a part: each stops at its 13th changed prediction, by the 52nd, 26th
          // and 18th sample.
          CHECK(early->forward_samples <= 2 * x.size(0) + 52 + 26 + 18);
        }
      }

      // Stopping after two beaten candidates as well: the same choice; a candidate
      // stopped below the bar reports a bound at least its whole score and below the best
      // minus the tolerance. Here the five- and six-unit candidates cannot be chosen
      // (ruled out), so the seven-unit one is not run.
      sel.stop_after_beaten = 2;
      for (int parts : {1, 2, 4}) {
        INFO(parts << " parts");
        sel.rule_out_parts = parts;
        auto beaten = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
        REQUIRE(beaten.ok());
        CHECK(beaten->chosen == dead);
        for (size_t i = 0; i < 5; ++i) {
          if (!beaten->bounded[i]) {
            CHECK(beaten->scores[i] == all->scores[i]);
            continue;
          }
          CHECK(parts > 1);  // one whole pass has nothing to stop early
          CHECK(beaten->scores[i] >= all->scores[i]);
          CHECK(beaten->scores[i] < all->scores[0] - sel.tolerance);
        }
        CHECK(std::isnan(beaten->scores[5]));
        CHECK(beaten->forward_samples < all->forward_samples);
      }
    }
  }
  SECTION("a candidate below the best score stops early and two in a row end the search") {
    // No class counts as used and any prediction may change: no guard rules anything out,
    // and the candidates that cut live units merely score lower.
    sel.score = SelectionScore::kConfidence;
    sel.min_class_share = 1.0;
    sel.min_dense_agreement = 0.0;
    sel.candidates.insert(sel.candidates.begin() + 4, 96.0 / 176);
    sel.candidates.push_back(128.0 / 176);
    sel.stop_after_ruled_out = 0;
    sel.stop_after_beaten = 0;
    sel.rule_out_parts = 1;
    auto all = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
    REQUIRE(all.ok());
    REQUIRE(all->scores.size() == 7);
    const double bar = all->scores[0] - sel.tolerance;
    // The live-unit candidates score finitely, below the dead block's candidates.
    for (size_t i = 3; i < 7; ++i) {
      CHECK(std::isfinite(all->scores[i]));
      CHECK(all->scores[i] < bar);
    }
    CHECK(all->chosen == dead);
    sel.stop_after_beaten = 2;
    for (int parts : {1, 2}) {
      INFO(parts << " parts");
      sel.rule_out_parts = parts;
      auto stopped = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
      REQUIRE(stopped.ok());
      CHECK(stopped->chosen == dead);
      // Two beaten candidates in a row (3 and 4): 5 and 6 are not run.
      CHECK(std::isnan(stopped->scores[5]));
      CHECK(std::isnan(stopped->scores[6]));
      for (size_t i = 0; i < 5; ++i) {
        // In two parts, both stop after the first: its bound is already below the bar.
        CHECK(stopped->bounded[i] == (parts > 1 && i >= 3));
        if (stopped->bounded[i]) {
          CHECK(stopped->scores[i] >= all->scores[i]);
          CHECK(stopped->scores[i] < bar);
        } else {
          CHECK(stopped->scores[i] == all->scores[i]);
        }
      }
      // Candidates 5 and 6 not run; in two parts, the second halves of 3 and 4 neither.
      CHECK(stopped->forward_samples ==
            all->forward_samples - 2 * x.size(0) - (parts > 1 ? x.size(0) : 0));
      CHECK(format_candidate_scores(*stopped).find(parts > 1 ? "<=" : "-") != std::string::npos);
    }
  }
  SECTION("candidates that prune only never-firing units reuse the recorded logits") {
    torch::Tensor logits;
    auto recorded = record_activations(net, x, 128, false, &logits);
    sel.score = SelectionScore::kConfidence;
    sel.stop_after_ruled_out = 0;  // every candidate, to compare them all
    sel.stop_after_beaten = 0;
    sel.rule_out_parts = 1;  // each in one whole pass
    auto reused = select_sparsity(net, recorded, x, logits, cfg, sel, /*heldout_recorded=*/true);
    auto rerun = select_sparsity(net, recorded, x, logits, cfg, sel, /*heldout_recorded=*/false);
    REQUIRE(reused.ok());
    REQUIRE(rerun.ok());
    CHECK(reused->chosen == dead);
    // The dead units' outputs were zeros: the same scores (exactly with the reference BLAS,
    // to float rounding with an optimized one, which sums the compact rows in another order).
    REQUIRE(reused->scores.size() == rerun->scores.size());
    for (size_t i = 0; i < reused->scores.size(); ++i) {
      if (std::isinf(rerun->scores[i]))
        CHECK(reused->scores[i] == rerun->scores[i]);
      else
        CHECK(reused->scores[i] == Approx(rerun->scores[i]).epsilon(1e-6));
    }
    // Candidates 0, 32/176 and 64/176 prune only the dead block: no pass. The other two
    // cut live units and run.
    CHECK(reused->forward_samples == 2 * x.size(0));
    CHECK(rerun->forward_samples == 4 * x.size(0));  // every pruning candidate runs
    CHECK(reused->forward_macs < rerun->forward_macs);
  }
  SECTION("the selection returns the masks of pruning at its choice") {
    sel.score = SelectionScore::kConfidence;
    for (auto scope : {Scope::kGlobal, Scope::kPerLayer}) {
      cfg.scope = scope;
      auto r = select_sparsity(net, stats, x, torch::Tensor(), cfg, sel);
      REQUIRE(r.ok());
      auto pruned = clone_model(net);
      cfg.target_sparsity = r->chosen;
      REQUIRE(prune_with_stats(*pruned, stats, cfg).ok());
      const MaskState want = snapshot_masks(*pruned);
      REQUIRE(r->chosen_masks.unit_masks.size() == want.unit_masks.size());
      for (size_t i = 0; i < want.unit_masks.size(); ++i) {
        CHECK(r->chosen_masks.unit_masks[i].equal(want.unit_masks[i]));
        CHECK(r->chosen_masks.weight_masks[i].equal(want.weight_masks[i]));
      }
      // Global: the four dead fc1 units, not the dense masks the selection started from.
      if (scope == Scope::kGlobal)
        CHECK(to_vec(r->chosen_masks.unit_masks[0]) == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0});
    }
  }
  SECTION("pruning at the chosen sparsity removes exactly the dead block") {
    for (auto scope : {Scope::kGlobal, Scope::kPerLayer}) {
      auto pruned = clone_model(net);
      cfg.scope = scope;
      cfg.target_sparsity = dead;
      REQUIRE(prune_with_stats(*pruned, stats, cfg).ok());
      CHECK(to_vec(pruned->find_layer("fc1")->unit_mask()) ==
            std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0});
      torch::NoGradGuard g;
      pruned->eval();
      net.eval();
      CHECK(torch::equal(pruned->forward(x), net.forward(x)));
    }
  }
  SECTION("bad selector settings are refused") {
    sel.stop_after_ruled_out = -1;
    CHECK_FALSE(select_sparsity(net, stats, x, torch::Tensor(), cfg, sel).ok());
    sel.stop_after_ruled_out = 2;
    sel.stop_after_beaten = -1;
    CHECK_FALSE(select_sparsity(net, stats, x, torch::Tensor(), cfg, sel).ok());
    sel.stop_after_beaten = 2;
    sel.rule_out_parts = 0;
    CHECK_FALSE(select_sparsity(net, stats, x, torch::Tensor(), cfg, sel).ok());
    sel.rule_out_parts = 2;
    sel.candidates = {0.3, 0.1};
    CHECK_FALSE(select_sparsity(net, stats, x, torch::Tensor(), cfg, sel).ok());
    sel.candidates.clear();
    CHECK_FALSE(select_sparsity(net, stats, x, torch::Tensor(), cfg, sel).ok());
  }
}

TEST_CASE("one fused pass gives the statistics of three separate reductions") {
  torch::manual_seed(3);
  // Reference: the separate torch reductions the fused pass replaced, in float64.
  auto reference = [](const std::vector<torch::Tensor>& batches, double threshold) {
    auto all = torch::cat(batches).to(torch::kDouble);
    std::vector<int64_t> dims =
        all.dim() == 4 ? std::vector<int64_t>{0, 2, 3} : std::vector<int64_t>{0};
    return std::vector<torch::Tensor>{all.sum(dims), all.square().sum(dims),
                                      (all > threshold).sum(dims).to(torch::kDouble)};
  };
  // 40 x 40 positions span several of the kernel's float blocks within a run; 40 runs of
  // 7 x 7 fill blocks across runs, with a scalar tail in each.
  for (auto shape : {std::vector<int64_t>{5, 7, 6, 3}, std::vector<int64_t>{9, 13},
                     std::vector<int64_t>{3, 4, 40, 40}, std::vector<int64_t>{40, 3, 7, 7}}) {
    for (bool softmax : {false, true}) {
      INFO("dims " << shape.size() << " softmax " << softmax);
      std::vector<torch::Tensor> outs, ins;
      ActivationStats s;
      s.track_inputs = true;
      for (int b = 0; b < 3; ++b) {
        auto y = torch::randn(shape);
        if (softmax) y = torch::softmax(y, 1);
        auto x = torch::randn(shape) * 3;
        // A non-contiguous view must be read by value, not by memory order.
        if (b == 1) x = x.transpose(0, 1).contiguous().transpose(0, 1);
        s.accumulate(y, x, softmax);
        outs.push_back(y);
        ins.push_back(x);
      }
      const double threshold = softmax ? 1.0 / shape[1] : 0.0;
      auto want = reference(outs, threshold);
      auto want_in = reference(ins, 0.0);
      CHECK(torch::allclose(s.sum, want[0], 1e-6, 1e-6));
      CHECK(torch::allclose(s.sum_sq, want[1], 1e-6, 1e-6));
      CHECK(torch::equal(s.positive, want[2]));
      CHECK(torch::allclose(s.in_sum, want_in[0], 1e-6, 1e-6));
      CHECK(torch::allclose(s.in_sum_sq, want_in[1], 1e-6, 1e-6));
      const int64_t per_sample = shape.size() == 4 ? shape[2] * shape[3] : 1;
      CHECK(s.count == 3 * shape[0] * per_sample);
      CHECK(s.in_count == s.count);
      CHECK(s.samples == 3 * shape[0]);
    }
  }
  SECTION("a unit's outputs are all zero exactly when it never fired and they sum to zero") {
    // The selector relies on it (a pruned never-firing unit changes no logit); squares of
    // values this small vanish in float, the count and the sum do not.
    auto y = torch::zeros({2, 3, 5, 5});
    y[1][0][2][2] = 1e-30f;
    y[0][1][4][4] = -1e-30f;
    ActivationStats s;
    s.accumulate(y, torch::Tensor(), false);
    auto fired = s.ever_nonzero();
    CHECK(fired[0].item<bool>());
    CHECK(fired[1].item<bool>());
    CHECK_FALSE(fired[2].item<bool>());
  }
}

TEST_CASE("the statistics are the same on one thread and on two that split the channels") {
  // Each thread sums its own channels in the same order, so the split changes no bit.
  torch::manual_seed(4);
  auto y = torch::randn({64, 96, 14, 14}).relu();  // enough channels for both threads
  auto stats_on = [&](int threads) {
    const int before = torch::get_num_threads();
    torch::set_num_threads(threads);
    ActivationStats s;
    s.accumulate(y, torch::Tensor(), false);
    torch::set_num_threads(before);
    return s;
  };
  ActivationStats one = stats_on(1), two = stats_on(2);
  CHECK(torch::equal(one.sum, two.sum));
  CHECK(torch::equal(one.sum_sq, two.sum_sq));
  CHECK(torch::equal(one.positive, two.positive));
  CHECK(torch::allclose(two.sum, y.to(torch::kDouble).sum({0, 2, 3}), 1e-6, 1e-6));
}

TEST_CASE("the recording pass's logits equal a fresh forward pass") {
  torch::manual_seed(4);
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  auto x = torch::randn({37, 1, 8, 8});
  torch::Tensor logits;
  record_activations(*model, x, /*batch_size=*/16, false, &logits);
  model->eval();
  torch::NoGradGuard g;
  REQUIRE(logits.sizes() == torch::IntArrayRef({37, 10}));
  CHECK(torch::allclose(logits, model->forward(x), 1e-5, 1e-6));
}

TEST_CASE("the recording keeps what each layer of a sequential model read on the tail") {
  torch::manual_seed(5);
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  auto x = torch::randn({37, 1, 8, 8});
  TailInputs tail;
  tail.from = 29;  // inside the second batch of 16, to the end of the third
  torch::Tensor logits;
  record_activations(*model, x, /*batch_size=*/16, false, &logits, &tail);
  const size_t n = model->layers().size();
  REQUIRE(tail.layer_inputs.size() == n);
  CHECK_FALSE(tail.layer_inputs[0].defined());  // the samples themselves
  model->eval();
  torch::NoGradGuard g;
  CHECK(torch::allclose(logits, model->forward(x), 1e-5, 1e-6));
  std::vector<int64_t> row_bytes(n, 0);
  for (size_t i = 1; i < n; ++i) {
    INFO("layer " << i);
    REQUIRE(tail.layer_inputs[i].defined());
    const auto want = model->forward_layers(x.slice(0, 29), 0, i);
    CHECK(tail.layer_inputs[i].sizes() == want.sizes());
    CHECK(torch::allclose(tail.layer_inputs[i], want, 1e-5, 1e-6));
    row_bytes[i] = want[0].numel() * 4;
  }

  SECTION("within a budget, the last layers' inputs first") {
    TailInputs small;
    small.from = 29;
    small.budget_bytes = 8 * (row_bytes[n - 1] + row_bytes[n - 2]);  // 8 rows in the tail
    record_activations(*model, x, 16, false, nullptr, &small);
    REQUIRE(small.layer_inputs.size() == n);
    for (size_t i = 0; i < n; ++i) CHECK(small.layer_inputs[i].defined() == (i >= n - 2));
    small.budget_bytes -= 1;
    record_activations(*model, x, 16, false, nullptr, &small);
    for (size_t i = 0; i < n; ++i) CHECK(small.layer_inputs[i].defined() == (i == n - 1));
  }
  SECTION("a residual model keeps what its blocks read") {
    auto resnet = build_model(fp::testing::test_spec("resnet18", 1, 8, 8, 10, 0.125)).value();
    TailInputs blocks;
    blocks.from = 30;
    record_activations(*resnet, x, 16, false, nullptr, &blocks);
    const auto& starts = resnet->segment_starts();
    REQUIRE(blocks.layer_inputs.size() == resnet->layers().size());
    resnet->eval();
    for (size_t i = 0; i < blocks.layer_inputs.size(); ++i) {
      INFO("layer " << i);
      const bool start = i > 0 && std::count(starts.begin(), starts.end(), i) == 1;
      REQUIRE(blocks.layer_inputs[i].defined() == start);
      if (start)
        CHECK(torch::allclose(blocks.layer_inputs[i], resnet->forward_layers(x.slice(0, 30), 0, i),
                              1e-5, 1e-6));
    }
  }
  SECTION("a model without segments keeps none") {
    TinyNet tiny;
    TailInputs none;
    none.from = 1;
    record_activations(tiny, torch::randn({3, 2}), 16, false, nullptr, &none);
    CHECK(none.layer_inputs.empty());
  }
  SECTION("a tail outside the samples is refused") {
    TailInputs bad;
    bad.from = 37;
    CHECK_THROWS_WITH(record_activations(*model, x, 16, false, nullptr, &bad),
                      Catch::Contains("the tail starts at 37 of 37 samples"));
  }
}

TEST_CASE("selector candidates start after the segments that compute what the dense model did") {
  PruneConfig cfg;
  cfg.prune_output_layer = false;  // every class stays: the scores see every change
  SelectorConfig sel;
  sel.candidates = {0.0, 0.2, 0.4, 0.6, 0.8};
  sel.min_dense_agreement = 0;  // score every candidate, none ruled out
  sel.class_retention = 0;
  sel.stop_after_ruled_out = 0;
  sel.stop_after_beaten = 0;
  sel.bisection = false;
  for (const std::string arch : {"cnn", "resnet18", "mobilenetv2"}) {
    torch::manual_seed(7);
    auto model = build_model(fp::testing::test_spec(arch, 1, 8, 8, 10, 0.5)).value();
    auto x = torch::randn({60, 1, 8, 8});
    TailInputs tail;
    tail.from = 40;
    torch::Tensor logits;
    auto stats = record_activations(*model, x, 16, false, &logits, &tail);
    const auto heldout = x.slice(0, 40);
    const auto held_logits = logits.slice(0, 40);
    for (auto score : {SelectionScore::kConfidence, SelectionScore::kNegEntropy,
                       SelectionScore::kPseudoLabelAgreement}) {
      INFO(arch << ", " << selection_score_name(score));
      sel.score = score;
      auto whole = select_sparsity(*model, stats, heldout, held_logits, cfg, sel, true);
      auto started =
          select_sparsity(*model, stats, heldout, held_logits, cfg, sel, true, tail.layer_inputs);
      REQUIRE(whole.ok());
      REQUIRE(started.ok());
      CHECK(started->chosen == whole->chosen);
      for (size_t i = 0; i < sel.candidates.size(); ++i) {
        INFO("candidate " << sel.candidates[i]);
        CHECK(started->scores[i] == Approx(whole->scores[i]).epsilon(0).margin(1e-9));
      }
      CHECK(started->forward_samples == whole->forward_samples);
      REQUIRE(whole->forward_samples > 0);
      // Some candidates' first changes are past the first segment: they start later.
      CHECK(started->forward_macs < whole->forward_macs);
      CHECK(started->chosen_masks.unit_masks.size() == model->layers().size());
    }
    if (arch != "resnet18") continue;
    SECTION("kept inputs that do not fit the held-out inputs or the segments are refused") {
      auto wrong = tail.layer_inputs;
      wrong[1] = wrong[1].slice(0, 1);
      auto r = select_sparsity(*model, stats, heldout, held_logits, cfg, sel, true, wrong);
      REQUIRE_FALSE(r.ok());
      CHECK_THAT(r.status().message(), Catch::Contains("differ in length"));
      wrong = tail.layer_inputs;
      wrong[2] = wrong[1];  // layer 2 is inside the first block
      r = select_sparsity(*model, stats, heldout, held_logits, cfg, sel, true, wrong);
      REQUIRE_FALSE(r.ok());
      CHECK_THAT(r.status().message(), Catch::Contains("starts no segment"));
      wrong.pop_back();
      r = select_sparsity(*model, stats, heldout, held_logits, cfg, sel, true, wrong);
      REQUIRE_FALSE(r.ok());
      CHECK_THAT(r.status().message(),
                 Catch::Contains("kept for " + std::to_string(wrong.size()) + " layers of"));
    }
  }
}

TEST_CASE("a candidate whose first change adds into a residual stream starts at its block") {
  // Statistics made so that the global ranking prunes units of one layer first: the last
  // conv of ResNet18's first block, whose outputs are added into the stream. The next block
  // reads the sum, not that layer's channels, so a candidate must start at the changed block.
  torch::manual_seed(11);
  auto model = build_model(fp::testing::test_spec("resnet18", 1, 8, 8, 10, 0.5)).value();
  auto x = torch::randn({60, 1, 8, 8});
  TailInputs tail;
  tail.from = 40;
  torch::Tensor logits;
  auto stats = record_activations(*model, x, 16, false, &logits, &tail);
  const std::string target = "layer1_0_conv2";
  const auto target_layer = model->find_layer(target);
  REQUIRE(target_layer);
  for (auto& [name, s] : stats) {
    if (name == "fc_out") continue;
    const int64_t units = s.sum_sq.numel();
    s.sum_sq = torch::full({units}, 1.0 * s.count, torch::kDouble);  // every unit alike
    if (name == target)  // half its units barely used (they still fired)
      s.sum_sq.slice(0, 0, units / 2).fill_(1e-6 * s.count);
  }
  const auto starts = model->segment_starts();
  const size_t block = 1, changed = 2;  // layer1_0: conv1 (1), conv2 (2); layer1_1 starts at 3
  REQUIRE(model->layer_names()[changed] == target);
  REQUIRE(std::count(starts.begin(), starts.end(), block) == 1);
  REQUIRE(std::count(starts.begin(), starts.end(), changed + 1) == 1);
  const double per_unit = static_cast<double>(target_layer->weights_per_unit());
  const double total = static_cast<double>(measure_sparsity(*model).prunable_weights);
  PruneConfig cfg;
  cfg.prune_output_layer = false;
  SelectorConfig sel;
  sel.candidates = {0.0, 2 * per_unit / total, 4 * per_unit / total, 8 * per_unit / total};
  sel.score = SelectionScore::kNegEntropy;
  sel.min_dense_agreement = 0;
  sel.class_retention = 0;
  sel.stop_after_ruled_out = 0;
  sel.stop_after_beaten = 0;
  const auto heldout = x.slice(0, 40);
  const auto held_logits = logits.slice(0, 40);
  auto whole = select_sparsity(*model, stats, heldout, held_logits, cfg, sel, true);
  auto started =
      select_sparsity(*model, stats, heldout, held_logits, cfg, sel, true, tail.layer_inputs);
  REQUIRE(whole.ok());
  REQUIRE(started.ok());
  // The candidates prune only the target's units: its masks are the only ones changed.
  auto masks = whole->chosen_masks;
  for (size_t i = 0; i < masks.unit_masks.size(); ++i)
    if (i != changed) CHECK(masks.unit_masks[i].min().item<float>() == 1);
  for (size_t i = 1; i < sel.candidates.size(); ++i) {
    INFO("candidate " << sel.candidates[i]);
    CHECK(started->scores[i] == Approx(whole->scores[i]).epsilon(0).margin(1e-9));
    CHECK(started->scores[i] != Approx(whole->scores[0]).epsilon(0).margin(1e-9));  // it changed
  }
  CHECK(started->forward_macs < whole->forward_macs);  // the stem is skipped
}

TEST_CASE("a mask checkpoint restores what was written since, and only that") {
  torch::manual_seed(9);
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  auto x = torch::randn({40, 1, 8, 8});
  auto stats = record_activations(*model, x, 16, /*with_input_energy=*/true);
  MaskCheckpoint checkpoint(*model);
  const size_t n = model->layers().size();
  for (size_t i = 0; i < n; ++i) {
    CHECK_FALSE(checkpoint.unit_mask_written(*model, i));
    CHECK_FALSE(checkpoint.weight_mask_written(*model, i));
  }
  PruneConfig units;
  units.target_sparsity = 0.5;
  REQUIRE(prune_with_stats(*model, stats, units).ok());
  bool some_unit_mask = false;
  for (size_t i = 0; i < n; ++i) {
    CHECK_FALSE(checkpoint.weight_mask_written(*model, i));  // unit pruning leaves them alone
    some_unit_mask = some_unit_mask || checkpoint.unit_mask_written(*model, i);
  }
  CHECK(some_unit_mask);
  checkpoint.restore(*model);
  for (size_t i = 0; i < n; ++i) {
    CHECK_FALSE(checkpoint.unit_mask_written(*model, i));
    CHECK(torch::equal(model->layers()[i]->unit_mask(), checkpoint.state().unit_masks[i]));
  }
  PruneConfig weights = units;
  weights.granularity = Granularity::kWeight;
  weights.criterion = Criterion::kActivationWeightedMagnitude;
  REQUIRE(prune_with_stats(*model, stats, weights).ok());
  CHECK(checkpoint.weight_mask_written(*model, 0));
  CHECK(measure_sparsity(*model).zeroed_weights > 0);
  checkpoint.restore(*model);
  CHECK(measure_sparsity(*model).zeroed_weights == 0);
  for (size_t i = 0; i < n; ++i) CHECK_FALSE(checkpoint.weight_mask_written(*model, i));
  // A write through any torch operation counts, even one that leaves the values as they are.
  model->layers()[1]->unit_mask().mul_(1.0);
  CHECK(checkpoint.unit_mask_written(*model, 1));
}

TEST_CASE("weight masks take no memory until written, and give it back when restored") {
  // A weight-sized tensor of ones per layer doubled a model's memory, and unit pruning
  // (Fine-Pruning) never writes it. ResNet18 has 1 x 1 convolutions (shapes ending in 1 x 1).
  torch::manual_seed(10);
  auto model = build_model(fp::testing::test_spec("resnet18", 1, 16, 16, 10, 0.25)).value();
  auto held = [](const fp::PrunableLayer& l) {
    return static_cast<int64_t>(l->weight_mask().storage().nbytes());
  };
  auto mask_bytes = [&](const PrunableNet& m) {
    int64_t n = 0;
    for (const auto& l : m.layers()) n += held(l);
    return n;
  };
  const int64_t n_layers = static_cast<int64_t>(model->layers().size());
  CHECK(mask_bytes(*model) == n_layers * 4);
  auto x = torch::randn({24, 1, 16, 16});
  auto stats = record_activations(*model, x, 8, /*with_input_energy=*/true);
  MaskCheckpoint checkpoint(*model);
  PruneConfig units;
  units.target_sparsity = 0.5;
  REQUIRE(prune_with_stats(*model, stats, units).ok());
  CHECK(mask_bytes(*model) == n_layers * 4);  // unit pruning wrote none
  CHECK(measure_sparsity(*model).zeroed_weights > 0);
  checkpoint.restore(*model);

  PruneConfig weights = units;
  weights.granularity = Granularity::kWeight;
  weights.criterion = Criterion::kActivationWeightedMagnitude;
  REQUIRE(prune_with_stats(*model, stats, weights).ok());
  const PrunableLayer first = model->layers()[0];
  CHECK(held(first) == first->weight().numel() * 4);  // written: a tensor of its own
  const MaskState pruned = snapshot_masks(*model);
  const auto cloned = fp::clone_model(*model);
  for (size_t i = 0; i < model->layers().size(); ++i) {
    INFO(model->layer_names()[i]);
    CHECK(torch::equal(cloned->layers()[i]->weight_mask(), model->layers()[i]->weight_mask()));
    CHECK(held(cloned->layers()[i]) == held(model->layers()[i]));
  }
  checkpoint.restore(*model);  // back to ones, held as a view again
  CHECK(mask_bytes(*model) == n_layers * 4);
  CHECK(measure_sparsity(*model).zeroed_weights == 0);
  for (size_t i = 0; i < model->layers().size(); ++i)
    CHECK(checkpoint.state().weight_masks[i].equal(model->layers()[i]->weight_mask()));
  // The pruned masks come back exactly, and the model computes as when they were written.
  restore_masks(*model, pruned);
  for (size_t i = 0; i < model->layers().size(); ++i)
    CHECK(torch::equal(model->layers()[i]->weight_mask(), pruned.weight_masks[i]));
  torch::NoGradGuard no_grad;
  model->eval();
  cloned->eval();
  CHECK(torch::equal(model->forward(x), cloned->forward(x)));
  // Loaded from an artifact, only the masks it stores (one written layer here) take memory.
  checkpoint.restore(*model);
  PrunableLayer written = model->layers()[2];
  written->mutable_weight_mask().view({-1})[0] = 0.0f;
  auto loaded = fp::deserialize_model(fp::serialize_model(*model));
  REQUIRE(loaded.ok());
  for (size_t i = 0; i < model->layers().size(); ++i) {
    INFO(model->layer_names()[i]);
    CHECK(held((*loaded)->layers()[i]) == (i == 2 ? written->weight().numel() * 4 : 4));
    CHECK(torch::equal((*loaded)->layers()[i]->weight_mask(), model->layers()[i]->weight_mask()));
  }
}

TEST_CASE("selector candidates run as compact models: same scores, their own MACs") {
  torch::manual_seed(6);
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  auto x = torch::randn({40, 1, 8, 8});
  torch::Tensor logits;
  auto stats = record_activations(*model, x, 16, false, &logits);
  PruneConfig cfg;
  cfg.output_usage_threshold = 0.05;
  SelectorConfig sel;
  sel.candidates = {0.0, 0.3, 0.6};
  sel.score = SelectionScore::kNegEntropy;
  sel.min_dense_agreement = 0;  // score every candidate, none ruled out
  sel.class_retention = 0;
  auto r = select_sparsity(*model, stats, x, logits, cfg, sel);
  REQUIRE(r.ok());
  int64_t want_macs = 0, want_samples = 0;
  for (size_t i = 0; i < sel.candidates.size(); ++i) {
    auto pruned = clone_model(*model);
    cfg.target_sparsity = sel.candidates[i];
    REQUIRE(prune_with_stats(*pruned, stats, cfg).ok());
    auto proba = predict_proba(*pruned, x);  // the masked model, for reference
    const double score =
        (proba * proba.clamp_min(1e-12).log()).sum(1).to(torch::kDouble).mean().item<double>();
    CHECK(r->scores[i] == Approx(score).margin(1e-6));
    if (i == 0) continue;  // output classes only: the dense logits, no pass
    want_macs += count_macs(*pruned).compact * x.size(0);
    want_samples += x.size(0);
  }
  CHECK(r->forward_samples == want_samples);
  CHECK(r->forward_macs == want_macs);
  CHECK(r->forward_macs < count_macs(*model).dense * want_samples);  // pruned runs cost less
  // Where the time went is measured: every candidate was re-pruned, two ran compact.
  CHECK(r->prune_seconds > 0);
  CHECK(r->compact_seconds > 0);
  CHECK(r->forward_seconds > 0);
}

TEST_CASE("the selector prunes the model itself and leaves its masks as they were") {
  torch::manual_seed(9);
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  auto x = torch::randn({40, 1, 8, 8});
  torch::Tensor logits;
  const LayerStats stats = record_activations(*model, x, 16, false, &logits);
  PruneConfig cfg;
  cfg.target_sparsity = 0.1;  // a model already partly pruned
  REQUIRE(prune_with_stats(*model, stats, cfg).ok());
  const MaskState before = snapshot_masks(*model);
  const bool was_training = model->is_training();
  auto unchanged = [&] {
    for (size_t i = 0; i < model->layers().size(); ++i) {
      CHECK(model->layers()[i]->unit_mask().equal(before.unit_masks[i]));
      CHECK(model->layers()[i]->weight_mask().equal(before.weight_masks[i]));
    }
    CHECK(model->is_training() == was_training);
  };
  SelectorConfig sel;
  sel.stop_after_ruled_out = 0;  // every candidate runs, to the sparsest
  sel.stop_after_beaten = 0;
  for (bool recorded : {true, false}) {  // without the logits, the selector computes them
    auto r =
        select_sparsity(*model, stats, x, recorded ? logits : torch::Tensor(), cfg, sel, recorded);
    REQUIRE(r.ok());
    bool pruned = false;  // the chosen masks are not the ones it started from
    for (size_t i = 0; i < before.unit_masks.size(); ++i)
      pruned = pruned || !r->chosen_masks.unit_masks[i].equal(before.unit_masks[i]);
    CHECK(pruned);
    unchanged();
  }
  // Candidates that cannot be reached with conv1 and conv2 dense are ruled out (they failed
  // the selection): the masks are back too.
  cfg.protected_layers = {"conv1", "conv2"};
  auto ruled_out = select_sparsity(*model, stats, x, logits, cfg, sel, true);
  INFO(ruled_out.status().to_string());
  REQUIRE(ruled_out.ok());
  CHECK(ruled_out->scores.back() == -std::numeric_limits<double>::infinity());
  unchanged();
  // A selection that fails (a protected layer the model lacks) leaves them as they were.
  cfg.protected_layers = {"conv1", "no_such_layer"};
  auto refused = select_sparsity(*model, stats, x, logits, cfg, sel, true);
  CHECK_FALSE(refused.ok());
  unchanged();
}

TEST_CASE("passes that run a model in eval mode give back its training mode when they throw") {
  torch::manual_seed(9);
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  const auto good = torch::randn({8, 1, 8, 8});
  const auto bad = torch::randn({8, 3, 8, 8});  // three channels into a one-channel conv
  torch::Tensor logits;
  const LayerStats stats = record_activations(*model, good, 8, false, &logits);
  PruneConfig cfg;
  for (bool training : {true, false}) {
    model->train(training);
    CHECK_THROWS(predict_proba(*model, bad));
    CHECK(model->is_training() == training);
    CHECK_THROWS(record_activations(*model, bad, 8));
    CHECK(model->is_training() == training);
    CHECK_THROWS(median_latency(*model, bad, 0, 1, 0.0));
    CHECK(model->is_training() == training);
    // Without given logits the selector runs the dense model over the held-out inputs.
    CHECK_THROWS(select_sparsity(*model, stats, bad, torch::Tensor(), cfg, SelectorConfig{}));
    CHECK(model->is_training() == training);
    // And every one of them gives it back when nothing throws.
    predict_proba(*model, good);
    record_activations(*model, good, 8);
    median_latency(*model, good, 0, 1, 0.0);
    REQUIRE(select_sparsity(*model, stats, good, logits, cfg, SelectorConfig{}).ok());
    CHECK(model->is_training() == training);
  }
}

TEST_CASE("passes over inputs refuse a batch size below one instead of looping forever") {
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  const auto x = torch::randn({4, 1, 8, 8});
  for (int64_t batch : {0, -1}) {
    CHECK_THROWS_WITH(predict_logits(*model, x, batch), Catch::Contains("batch_size"));
    CHECK_THROWS_WITH(predict_proba(*model, x, batch), Catch::Contains("batch_size"));
    CHECK_THROWS_WITH(record_activations(*model, x, batch), Catch::Contains("batch_size"));
  }
  CHECK(predict_logits(*model, x, 3).size(0) == 4);  // 3 + 1
  // A real LibTorch error, as a program's last catch shows it: the message, no backtrace.
  try {
    predict_logits(*model, x, 0);
    FAIL("no error");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("Exception raised from") != std::string::npos);
    CHECK(fp::exception_summary(e) == "predict_logits: batch_size must be positive, got 0");
  }
}

TEST_CASE("global unit pruning reaches its target where weights are already masked") {
  // The walk down the ranking counts what each pruned unit newly zeroes: its weights less
  // those already zero or masked. Masked weights in units that stay must count as zeroed
  // from the start, or the pruner overshoots by all of them.
  torch::manual_seed(8);
  auto model = build_model(fp::testing::test_spec("mlp", 1, 8, 8, 10, 1.0)).value();
  auto x = torch::randn({64, 1, 8, 8});
  const LayerStats stats = record_activations(*model, x, 64);
  PrunableLayer fc2 = model->find_layer("fc2");
  REQUIRE(fc2);
  // Half the weights of fc2's most used half of units masked: units the pruning keeps.
  const auto top = std::get<1>(stats.at("fc2").energy().topk(fc2->num_units() / 2));
  {
    torch::NoGradGuard g;
    auto rows = fc2->weight_mask().index_select(0, top);
    rows.slice(1, 0, fc2->weights_per_unit() / 2).fill_(0.0);
    fc2->mutable_weight_mask().index_copy_(0, top, rows);
  }
  const MaskState start = snapshot_masks(*model);
  const double total = static_cast<double>(measure_sparsity(*model).prunable_weights);
  int64_t widest = 0;
  for (const auto& l : model->layers()) widest = std::max(widest, l->weights_per_unit());
  PruneConfig config;
  config.prune_output_layer = false;
  config.target_sparsity = 0.3;
  REQUIRE(prune_with_stats(*model, stats, config).ok());
  // The premise: the masked units were kept.
  REQUIRE(fc2->unit_mask().index_select(0, top).min().item<float>() == 1.0f);
  const double once = measure_sparsity(*model).sparsity();
  CHECK(once >= 0.3 - 1e-9);
  CHECK(once <= 0.3 + static_cast<double>(widest) / total);
  // The same count serves the repeated pruner (its first call) and its later calls.
  RepeatedPruner repeated(stats, config);
  for (double target : {0.6, 0.3}) {
    restore_masks(*model, start);
    REQUIRE(repeated.prune(*model, target).ok());
  }
  CHECK(measure_sparsity(*model).sparsity() == once);
}

TEST_CASE("a repeated pruner sets prune_with_stats's masks at every target, in any order") {
  torch::manual_seed(8);
  auto model = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 10, 0.5)).value();
  auto x = torch::randn({40, 1, 8, 8});
  auto stats = record_activations(*model, x, 16, /*with_input_energy=*/true);
  // A model already partly pruned: the ranking starts from its masks, not from dense ones.
  PruneConfig first;
  first.target_sparsity = 0.2;
  first.prune_output_layer = false;
  REQUIRE(prune_with_stats(*model, stats, first).ok());
  const MaskState start = snapshot_masks(*model);

  std::vector<std::pair<std::string, PruneConfig>> configs;
  PruneConfig c;  // the default: global units by energy, output classes by usage
  c.output_usage_threshold = 0.05;
  configs.emplace_back("default", c);
  c.prune_output_layer = false;
  configs.emplace_back("hidden only", c);
  c.criterion = Criterion::kMean;
  c.min_units_per_layer = 3;
  configs.emplace_back("mean, three units kept", c);
  c.criterion = Criterion::kActivationWeightedMagnitude;
  c.granularity = Granularity::kWeight;
  configs.emplace_back("weights", c);
  c.criterion = Criterion::kEnergy;
  c.granularity = Granularity::kUnit;
  c.scope = Scope::kPerLayer;
  configs.emplace_back("per layer", c);

  for (const auto& [name, config] : configs) {
    RepeatedPruner pruner(stats, config);
    for (double target : {0.5, 0.25, 0.8, 0.1, 0.5, 0.0}) {
      INFO(name << ", target " << target);
      restore_masks(*model, start);
      auto expected = clone_model(*model);
      PruneConfig once = config;
      once.target_sparsity = target;
      REQUIRE(prune_with_stats(*expected, stats, once).ok());
      REQUIRE(pruner.prune(*model, target).ok());
      for (size_t i = 0; i < model->layers().size(); ++i) {
        CHECK(model->layers()[i]->unit_mask().equal(expected->layers()[i]->unit_mask()));
        CHECK(model->layers()[i]->weight_mask().equal(expected->layers()[i]->weight_mask()));
      }
    }
    // An unreachable target is refused as prune_with_stats refuses it, and the next is fine.
    PruneConfig all_protected = config;
    all_protected.protected_layers = {model->layer_names().front()};
    RepeatedPruner guarded(stats, all_protected);
    restore_masks(*model, start);
    auto refused = guarded.prune(*model, 0.999);
    CHECK_FALSE(refused.ok());
    CHECK(guarded.last_unreachable());
    restore_masks(*model, start);
    CHECK(guarded.prune(*model, 0.3).ok());
    CHECK_FALSE(guarded.last_unreachable());
  }
  restore_masks(*model, start);
}
