// Label-free competitors (common/baselines/prior_em, batch_norm_adapt) and the
// post-pruning compensations (common/experiment/compensation): what each changes, and
// that each works from unlabeled inputs only.
#include "baselines/batch_norm_adapt.h"
#include "baselines/prior_em.h"
#include "experiment/compensation.h"
#include "experiment/personalize.h"
#include "experiment/reestimation_check.h"
#include "models/artifact.h"
#include "models/model_factory.h"
#include "prune/pruner.h"
#include "prune/shift_detector.h"
#include "synthetic_clusters.h"
#include "test_spec.h"
#include "train/evaluator.h"
#include "train/general_model.h"
#include "train/spread_calibration.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

// conv 1->4 (3x3, BatchNorm, ReLU), global average pool, classifier 4->3 (with bias).
class BnNet : public PrunableNet {
 public:
  BnNet() : PrunableNet(fp::testing::test_spec("cnn", 1, 6, 6, 3, 1.0)) {
    conv = add_layer("conv", conv_bn_options(1, 4, 3, 1, Activation::kReLU));
    out = add_layer("out", classifier_options(4, 3));
  }
  torch::Tensor forward(torch::Tensor x) override { return out(conv(x).mean({2, 3})); }
  PrunableLayer conv{nullptr}, out{nullptr};
};

// hidden linear 2->3 (ReLU, bias), output 3->2 (bias).
class MlpNet : public PrunableNet {
 public:
  MlpNet() : PrunableNet(fp::testing::test_spec("mlp", 1, 1, 2, 2, 1.0)) {
    hidden = add_layer("hidden", linear_options(2, 3));
    out = add_layer("out", classifier_options(3, 2));
  }
  torch::Tensor forward(torch::Tensor x) override { return out(hidden(x.flatten(1))); }
  PrunableLayer hidden{nullptr}, out{nullptr};
};

std::map<std::string, torch::Tensor> snapshot(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> s;
  for (const auto& p : m.named_parameters()) s[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) s[b.key()] = b.value().detach().clone();
  return s;
}

// Names whose tensor differs between two snapshots.
std::set<std::string> changed(const std::map<std::string, torch::Tensor>& a,
                              const std::map<std::string, torch::Tensor>& b) {
  std::set<std::string> out;
  for (const auto& [k, v] : a)
    if (!torch::equal(v, b.at(k))) out.insert(k);
  return out;
}

// A small labeled set: 3 classes told apart by the brightness of three image bands.
Dataset banded(int64_t n, uint64_t seed, double shift = 0.0) {
  torch::manual_seed(seed);
  Dataset d;
  d.inputs = torch::randn({n, 1, 8, 8}) * 0.5 + shift;
  d.labels = torch::randint(0, 3, {n}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = d.labels[i].item<int64_t>();
    d.inputs[i][0].slice(0, c * 2, c * 2 + 3) += 1.5;
  }
  d.class_names = {"a", "b", "c"};
  return d;
}

// A tiny VGG-7 (BatchNorm) for banded()'s 8x8 images of 3 classes, seeded.
ModelPtr tiny_vgg7(uint64_t seed) {
  torch::manual_seed(seed);
  return build_model(fp::testing::test_spec("vgg7", 1, 8, 8, 3, 0.0625)).value();
}

// Fine-Pruning at a fixed sparsity (no label-free choice), without the baselines.
PersonalizeConfig at_sparsity(double target) {
  PersonalizeConfig c;
  c.select_sparsity = false;
  c.prune.target_sparsity = target;
  c.run_finetune = c.run_svd = false;
  return c;
}

}  // namespace

TEST_CASE("prior EM recovers the class prior of a skewed sample") {
  // Three 1-D Gaussian classes (means -2, 0, 2, sd 1); posteriors computed under uniform
  // priors; the sample is drawn with priors 0.7 / 0.2 / 0.1.
  torch::manual_seed(3);
  const int64_t n = 20000;
  auto u = torch::rand({n});
  auto label = (u > 0.7).to(torch::kLong) + (u > 0.9).to(torch::kLong);
  auto means = torch::tensor({-2.0, 0.0, 2.0}, torch::kDouble);
  auto x = means.index_select(0, label) + torch::randn({n}, torch::kDouble);
  auto loglik = -(x.view({-1, 1}) - means.view({1, -1})).square() / 2;
  auto posterior = torch::softmax(loglik, 1);
  auto r = estimate_class_priors(posterior, {});
  REQUIRE(r.ok());
  CHECK(r->converged);
  REQUIRE(r->priors.size() == 3);
  CHECK(r->priors[0] == Approx(0.7).margin(0.02));
  CHECK(r->priors[1] == Approx(0.2).margin(0.02));
  CHECK(r->priors[2] == Approx(0.1).margin(0.02));
  // The plain mean posterior is biased toward uniform: EM does better than it.
  auto naive = posterior.mean(0);
  CHECK(std::abs(naive[0].item<double>() - 0.7) > std::abs(r->priors[0] - 0.7));

  // Balanced data: the priors stay (nearly) uniform.
  auto balanced = torch::arange(n, torch::kLong).remainder(3);
  auto xb = means.index_select(0, balanced) + torch::randn({n}, torch::kDouble);
  auto pb = torch::softmax(-(xb.view({-1, 1}) - means.view({1, -1})).square() / 2, 1);
  auto rb = estimate_class_priors(pb, {});
  REQUIRE(rb.ok());
  for (double p : rb->priors) CHECK(p == Approx(1.0 / 3).margin(0.02));

  CHECK_FALSE(estimate_class_priors(torch::zeros({0, 3}), {}).ok());
  PriorEmConfig wrong;
  wrong.training_priors = {0.5, 0.5};
  CHECK_FALSE(estimate_class_priors(posterior, wrong).ok());
}

TEST_CASE("prior EM shifts only the classifier bias, by log(prior / training prior)") {
  torch::manual_seed(5);
  MlpNet net;
  auto x = torch::randn({64, 2});
  auto before = snapshot(net);
  auto p_before = predict_proba(net, x).to(torch::kDouble);
  auto r = adapt_class_priors(net, x, {});
  REQUIRE(r.ok());
  auto after = snapshot(net);
  CHECK(changed(before, after) == std::set<std::string>{"out.bias"});
  // The adapted model's probabilities are EM's reweighted posteriors.
  auto w = torch::tensor(r->priors, torch::kDouble) * 2.0;  // prior / (1/2)
  auto expect = p_before * w.view({1, -1});
  expect = expect / expect.sum(1, true);
  auto p_after = predict_proba(net, x).to(torch::kDouble);
  CHECK((p_after - expect).abs().max().item<double>() < 1e-5);
  // And the adapted model's mean prediction matches the estimated prior.
  CHECK(p_after.mean(0)[0].item<double>() == Approx(r->priors[0]).margin(1e-4));
}

TEST_CASE("AdaBN sets running statistics to the data's and changes nothing else") {
  torch::manual_seed(11);
  BnNet net;
  auto x = torch::randn({40, 1, 6, 6}) * 2.0 + 3.0;
  auto before = snapshot(net);
  auto r = adapt_batch_norm(net, x, /*batch_size=*/64);  // one batch: exact statistics
  REQUIRE(r.ok());
  CHECK(r->batch_norms == 1);
  auto after = snapshot(net);
  CHECK(changed(before, after) == std::set<std::string>{"conv.bn.running_mean",
                                                        "conv.bn.running_var",
                                                        "conv.bn.num_batches_tracked"});
  auto y = torch::nn::functional::conv2d(x, net.conv->weight(),
                                         torch::nn::functional::Conv2dFuncOptions().padding(1));
  auto mean = y.mean({0, 2, 3});
  auto var = y.var({0, 2, 3}, /*unbiased=*/true);
  auto& bn = net.conv->batch_norm();
  CHECK(torch::allclose(bn->running_mean, mean, 1e-4, 1e-5));
  CHECK(torch::allclose(bn->running_var, var, 1e-4, 1e-5));
  CHECK(bn->options.momentum().value() == Approx(0.1));  // restored
  CHECK_FALSE(net.is_training());

  // Several batches: the cumulative average of the batch means is still the data mean.
  BnNet again;
  torch::NoGradGuard g;
  again.conv->weight().copy_(net.conv->weight());
  REQUIRE(adapt_batch_norm(again, x, /*batch_size=*/10).ok());
  CHECK(torch::allclose(again.conv->batch_norm()->running_mean, mean, 1e-4, 1e-5));
  CHECK_FALSE(adapt_batch_norm(again, x.slice(0, 0, 1)).ok());
}

TEST_CASE("Tent lowers prediction entropy and touches only BatchNorm affine parameters") {
  torch::manual_seed(13);
  BnNet net;
  auto x = torch::randn({128, 1, 6, 6}) + 0.5;
  auto before = snapshot(net);
  TentConfig c;
  c.epochs = 20;
  c.learning_rate = 1e-2;
  c.batch_size = 32;
  auto r = tent_adapt(net, x, c);
  REQUIRE(r.ok());
  CHECK(r->affine_parameters == 8);
  CHECK(r->steps == 80);
  CHECK(r->entropy_after < r->entropy_before - 0.01);
  CHECK(r->entropy_before <= std::log(3.0) + 1e-9);
  auto after = snapshot(net);
  std::set<std::string> allowed = {"conv.bn.weight", "conv.bn.bias", "conv.bn.running_mean",
                                   "conv.bn.running_var", "conv.bn.num_batches_tracked"};
  auto diff = changed(before, after);
  CHECK(diff.count("conv.bn.weight") == 1);
  for (const auto& name : diff) CHECK(allowed.count(name) == 1);
  // Every parameter trains again afterwards (requires_grad restored).
  for (const auto& p : net.parameters()) CHECK(p.requires_grad());
}

TEST_CASE("bias compensation folds a pruned unit's mean into the next layer's bias") {
  torch::manual_seed(17);
  MlpNet net;
  {
    torch::NoGradGuard g;
    net.hidden->bias().fill_(0.5);  // every hidden unit has a positive mean
  }
  auto x = torch::randn({256, 2});
  LayerStats dense = record_activations(net, x, 64, /*with_input_energy=*/true);
  auto dense_logits = net.forward(x).detach();
  const auto hidden_mean = dense.at("hidden").mean();
  auto w_out = net.out->weight().detach().clone();
  auto b_out = net.out->bias().detach().clone();
  {
    torch::NoGradGuard g;
    net.hidden->unit_mask()[1] = 0.0;
  }
  auto pruned_logits = net.forward(x).detach();
  auto r = compensate_pruned_means(net, dense, x);
  REQUIRE(r.ok());
  CHECK(r->layers_adjusted == 1);
  CHECK(r->channels_folded == 1);
  auto expect = b_out + w_out.select(1, 1) * hidden_mean[1].item<double>();
  CHECK(torch::allclose(net.out->bias().detach(), expect, 1e-5, 1e-6));
  // The output's mean logit is restored exactly (the output layer is linear).
  auto compensated = net.forward(x).detach();
  CHECK(torch::allclose(compensated.mean(0), dense_logits.mean(0), 1e-4, 1e-5));
  CHECK_FALSE(torch::allclose(pruned_logits.mean(0), dense_logits.mean(0), 1e-4, 1e-5));
  // Dense statistics without inputs cannot be used.
  LayerStats no_inputs = record_activations(net, x, 64, false);
  CHECK_FALSE(compensate_pruned_means(net, no_inputs, x).ok());
}

TEST_CASE("compensation before BatchNorm moves its running mean") {
  torch::manual_seed(19);
  auto model = build_model(fp::testing::test_spec("vgg7", 1, 8, 8, 3, 0.0625)).value();
  auto x = torch::randn({32, 1, 8, 8});
  LayerStats dense = record_activations(*model, x, 64, true);
  PrunableLayer conv1 = model->find_layer("conv1");
  PrunableLayer conv2 = model->find_layer("conv2");
  auto mean_before = conv2->batch_norm()->running_mean.clone();
  {
    torch::NoGradGuard g;
    conv1->unit_mask()[0] = 0.0;
  }
  auto r = compensate_pruned_means(*model, dense, x);
  REQUIRE(r.ok());
  CHECK(r->layers_adjusted >= 1);
  auto expect = mean_before - conv2->effective_weight().detach().select(1, 0).sum({1, 2}) *
                                  dense.at("conv2").input_mean()[0].item<double>();
  CHECK(torch::allclose(conv2->batch_norm()->running_mean, expect.to(torch::kFloat), 1e-4, 1e-5));
}

TEST_CASE("output-only and hidden-only pruning ablations") {
  auto model = build_model(fp::testing::test_spec("mlp", 1, 4, 4, 10, 0.25)).value();
  auto x = torch::randn({64, 1, 4, 4});
  auto stats = record_activations(*model, x);
  PruneConfig only_output;
  only_output.prune_hidden = false;
  only_output.output_usage_threshold = 0.2;  // a random net spreads ~0.1 per class
  only_output.target_sparsity = 0.5;
  auto out_only = clone_model(*model);
  REQUIRE(prune_with_stats(*out_only, stats, only_output).ok());
  for (size_t i = 0; i + 1 < out_only->layers().size(); ++i)
    CHECK(out_only->layers()[i]->num_active_units() == out_only->layers()[i]->num_units());
  CHECK(out_only->layers().back()->num_active_units() < 10);

  PruneConfig only_hidden;
  only_hidden.prune_output_layer = false;
  only_hidden.target_sparsity = 0.5;
  auto hidden_only = clone_model(*model);
  REQUIRE(prune_with_stats(*hidden_only, stats, only_hidden).ok());
  CHECK(hidden_only->layers().back()->num_active_units() == 10);
  CHECK(measure_sparsity(*hidden_only).sparsity() > 0.4);

  PruneConfig nothing;
  nothing.prune_hidden = false;
  nothing.prune_output_layer = false;
  CHECK_FALSE(nothing.validate().ok());
  PruneConfig all;
  all.prune_hidden = false;
  all.compensate_bias = true;
  all.reestimate_batch_norm = true;
  auto back = PruneConfig::from_json(all.to_json());
  REQUIRE(back.ok());
  CHECK_FALSE(back->prune_hidden);
  CHECK(back->compensate_bias);
  CHECK(back->reestimate_batch_norm);
}

TEST_CASE("personalize runs the label-free methods without reading labels") {
  auto general = tiny_vgg7(23);
  Dataset adaptation = banded(96, 1, 0.3), evaluation = banded(60, 2, 0.3);
  PersonalizeConfig c = at_sparsity(0.2);
  c.prune.compensate_bias = true;
  c.prune.reestimate_batch_norm = true;
  c.run_svd = true;
  c.extra_methods = {"svd_macs",         "em_prior",       "adabn", "tent", "fine_prune+em_prior",
                     "fine_prune+adabn", "fine_prune+tent"};
  auto with_labels = personalize(*general, adaptation, evaluation, c);
  REQUIRE(with_labels.ok());
  // The same adaptation inputs with their labels scrambled, and with none at all.
  Dataset scrambled = adaptation;
  scrambled.labels = (adaptation.labels + 1).remainder(3);
  auto other = personalize(*general, scrambled, evaluation, c);
  auto none = personalize(*general, adaptation.without_labels(), evaluation, c);
  REQUIRE(other.ok());
  REQUIRE(none.ok());
  REQUIRE(with_labels->extra.size() == c.extra_methods.size());
  for (size_t i = 0; i < c.extra_methods.size(); ++i) {
    const auto& m = with_labels->extra[i];
    CHECK(m.method == c.extra_methods[i]);
    CHECK(m.accuracy == other->extra[i].accuracy);
    CHECK(m.accuracy == none->extra[i].accuracy);
    if (m.method != "svd_macs") CHECK(m.compute_macs > 0);
  }
  CHECK(with_labels->fine_prune.accuracy == none->fine_prune.accuracy);
  // The recording pass is timed as a part of Fine-Pruning (no selection at a fixed target).
  CHECK(with_labels->record_seconds > 0);
  CHECK(with_labels->select_seconds == 0);
  CHECK(with_labels->record_seconds <= with_labels->fine_prune.wall_seconds);
  // Combinations start from the Fine-Pruned model: as sparse, and costlier to make.
  const auto& combined = with_labels->extra[6];
  CHECK(combined.sparsity == Approx(with_labels->fine_prune.sparsity));
  CHECK(combined.compute_macs > with_labels->fine_prune.compute_macs);
  // SVD at equal MACs stays within Fine-Pruning's MACs.
  CHECK(with_labels->extra[0].macs_per_sample <= with_labels->fine_prune.macs_per_sample);
  CHECK(with_labels->svd.parameters <= with_labels->fine_prune.parameters);

  c.extra_methods = {"no_such_method"};
  CHECK_FALSE(personalize(*general, adaptation, evaluation, c).ok());
}

TEST_CASE("class spread is the share of classes the usage covers") {
  CHECK(class_spread({1.0, 0.0, 0.0, 0.0}) == Approx(0.25));
  CHECK(class_spread(std::vector<double>(10, 0.1)) == Approx(1.0));
  CHECK(class_spread({0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0}) == Approx(0.2));
  // Unnormalised usage (a recorded mean drifts from 1 by rounding) is normalised first.
  CHECK(class_spread({2.0, 2.0, 0.0, 0.0}) == Approx(0.5));
  CHECK(class_spread(std::vector<double>(5, 0.0)) == 1.0);  // no evidence of a class subset
  CHECK(detect_shift(0.8, 0.5) == ShiftKind::kInputs);
  CHECK(detect_shift(0.3, 0.5) == ShiftKind::kClassPrior);
  CHECK(std::string(shift_kind_name(ShiftKind::kInputs)) == "inputs");
  PruneConfig bad;
  bad.class_spread_threshold = 1.0;
  CHECK_FALSE(bad.validate().ok());
  bad.class_spread_threshold = 0.4;
  auto back = PruneConfig::from_json(bad.to_json());
  REQUIRE(back.ok());
  CHECK(back->class_spread_threshold == 0.4);
}

TEST_CASE("the device keeps every class and re-estimates BatchNorm when the inputs shifted") {
  auto general = tiny_vgg7(29);
  Dataset adaptation = banded(96, 3, 0.8), evaluation = banded(60, 4, 0.8);
  PersonalizeConfig c = at_sparsity(0.3);
  c.prune.output_usage_threshold = 0.34;  // some class of three falls below a third
  auto plain = personalize(*general, adaptation, evaluation, c);
  REQUIRE(plain.ok());
  CHECK(plain->class_spread == -1);  // not asked for
  const auto classes_kept = [](const PersonalizeResult& r) {
    return r.personalized->layers().back()->num_active_units();
  };
  REQUIRE(classes_kept(*plain) < 3);

  // Just above the data's spread: class-prior shift, pruned exactly as without detection.
  c.prune.class_spread_threshold = 0.999;
  auto probe = personalize(*general, adaptation, evaluation, c);
  REQUIRE(probe.ok());
  const double spread = probe->class_spread;
  REQUIRE(spread > 1.0 / 3);
  REQUIRE(spread < 0.999);
  c.prune.class_spread_threshold = spread + 1e-6;
  auto subset = personalize(*general, adaptation, evaluation, c);
  REQUIRE(subset.ok());
  CHECK(subset->shift == ShiftKind::kClassPrior);
  CHECK(classes_kept(*subset) == classes_kept(*plain));
  CHECK(subset->fine_prune.accuracy == plain->fine_prune.accuracy);

  // Just below: input shift, the same as asking for hidden-only pruning with AdaBN after.
  c.prune.class_spread_threshold = spread - 1e-6;
  auto shifted = personalize(*general, adaptation, evaluation, c);
  REQUIRE(shifted.ok());
  CHECK(shifted->shift == ShiftKind::kInputs);
  CHECK(shifted->class_spread == Approx(spread));
  CHECK(classes_kept(*shifted) == 3);
  PersonalizeConfig asked = c;
  asked.prune.class_spread_threshold = 0;
  asked.prune.prune_output_layer = false;
  asked.prune.reestimate_batch_norm = true;
  auto expected = personalize(*general, adaptation, evaluation, asked);
  REQUIRE(expected.ok());
  CHECK(shifted->fine_prune.accuracy == expected->fine_prune.accuracy);
  CHECK(shifted->sparsity.sparsity() == expected->sparsity.sparsity());
  CHECK(changed(snapshot(*expected->personalized), snapshot(*shifted->personalized)).empty());

  // Output-only pruning of an input-shifted individual removes nothing; BatchNorm adapts.
  c.prune.prune_hidden = false;
  auto output_only = personalize(*general, adaptation, evaluation, c);
  REQUIRE(output_only.ok());
  CHECK(output_only->sparsity.sparsity() == 0);
  CHECK(classes_kept(*output_only) == 3);
  CHECK_FALSE(changed(snapshot(*general), snapshot(*output_only->personalized)).empty());
}

TEST_CASE("a re-estimation check overturns an input-shift verdict that lowers confidence") {
  auto general = tiny_vgg7(29);
  Dataset adaptation = banded(96, 3, 0.8), evaluation = banded(60, 4, 0.8);
  PersonalizeConfig c = at_sparsity(0.3);
  c.prune.output_usage_threshold = 0.34;
  c.prune.class_spread_threshold = 0.999;
  auto probe = personalize(*general, adaptation, evaluation, c);
  REQUIRE(probe.ok());
  c.prune.class_spread_threshold = probe->class_spread - 1e-6;  // an input-shift verdict
  auto unchecked = personalize(*general, adaptation, evaluation, c);
  REQUIRE(unchecked.ok());
  REQUIRE(unchecked->shift == ShiftKind::kInputs);
  CHECK_FALSE(unchecked->reestimation.ran);

  // A minimum nothing misses: checked, verdict kept, the same model as unchecked.
  c.prune.reestimation_min_confidence_ratio = 1e-6;
  auto kept = personalize(*general, adaptation, evaluation, c);
  REQUIRE(kept.ok());
  const ReestimationCheck& check = kept->reestimation;
  REQUIRE(check.ran);
  CHECK(kept->shift == ShiftKind::kInputs);
  CHECK_FALSE(kept->shift_overturned);
  CHECK(changed(snapshot(*unchecked->personalized), snapshot(*kept->personalized)).empty());
  CHECK(kept->fine_prune.compute_macs > unchecked->fine_prune.compute_macs);  // its passes

  // Its figures, against re-estimation done here by hand on a copy.
  ModelPtr copy = clone_model(*general);
  REQUIRE(adapt_batch_norm(*copy, adaptation.inputs).ok());
  auto [p_before, c_before] = predict_proba(*general, adaptation.inputs).max(1);
  auto [p_after, c_after] = predict_proba(*copy, adaptation.inputs).max(1);
  CHECK(check.confidence_before == Approx(p_before.mean().item<double>()));
  CHECK(check.confidence_after == Approx(p_after.mean().item<double>()));
  CHECK(check.agreement == Approx(c_before.eq(c_after).to(torch::kDouble).mean().item<double>()));
  CHECK(check.spread_before == Approx(probe->class_spread));
  REQUIRE(check.confidence_after != check.confidence_before);

  // Just above the copy's ratio: overturned, pruned exactly as a class-prior shift.
  const double ratio = check.confidence_after / check.confidence_before;
  c.prune.reestimation_min_confidence_ratio = ratio * (1 + 1e-9);
  auto overturned = personalize(*general, adaptation, evaluation, c);
  REQUIRE(overturned.ok());
  CHECK(overturned->shift == ShiftKind::kClassPrior);
  CHECK(overturned->shift_overturned);
  CHECK(overturned->fine_prune.accuracy == probe->fine_prune.accuracy);
  CHECK(changed(snapshot(*probe->personalized), snapshot(*overturned->personalized)).empty());
  // Just below it: kept.
  c.prune.reestimation_min_confidence_ratio = ratio * (1 - 1e-9);
  auto below = personalize(*general, adaptation, evaluation, c);
  REQUIRE(below.ok());
  CHECK(below->shift == ShiftKind::kInputs);
  CHECK(changed(snapshot(*unchecked->personalized), snapshot(*below->personalized)).empty());

  // A network without BatchNorm is not checked: nothing to re-estimate.
  torch::manual_seed(3);
  auto cnn = build_model(fp::testing::test_spec("cnn", 1, 8, 8, 3, 0.25)).value();
  auto none = check_reestimation(*cnn, adaptation.inputs, torch::full({96, 3}, 1.0 / 3), 32);
  REQUIRE(none.ok());
  CHECK_FALSE(none->ran);
  // Predictions that do not match the inputs are an error naming both counts.
  auto mismatched = check_reestimation(*general, adaptation.inputs, torch::zeros({5, 3}), 32);
  REQUIRE_FALSE(mismatched.ok());
  CHECK_THAT(mismatched.status().message(), Catch::Contains("5 general predictions for 96"));

  PruneConfig bad;
  bad.reestimation_min_confidence_ratio = -0.5;
  CHECK_FALSE(bad.validate().ok());
  bad.reestimation_min_confidence_ratio = 0.7;
  auto back = PruneConfig::from_json(bad.to_json());
  REQUIRE(back.ok());
  CHECK(back->reestimation_min_confidence_ratio == 0.7);
}

TEST_CASE("a per-model threshold reads the model's spread curve at a share of its classes") {
  const std::vector<double> curve = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  CHECK(calibrated_spread_threshold(curve, 0.5) == Approx(0.5));    // k = 5
  CHECK(calibrated_spread_threshold(curve, 0.55) == Approx(0.55));  // halfway from 5 to 6
  CHECK(calibrated_spread_threshold(curve, 0.05) == Approx(0.1));   // below one class
  CHECK(calibrated_spread_threshold(curve, 1.0) == Approx(1.0));

  // It travels in the model's metadata; the runner resolves it into the threshold.
  std::map<std::string, std::string> meta = {{kSpreadCurveMetaKey, spread_curve_to_meta(curve)}};
  auto back = spread_curve_from_meta(meta);
  REQUIRE(back.ok());
  CHECK(*back == curve);
  PruneConfig prune;  // automatic, the default: the default share where there is a curve
  REQUIRE(resolve_spread_threshold(meta, prune).ok());
  CHECK(prune.class_spread_threshold == Approx(0.34));  // the curve at 3.4 classes
  PruneConfig uncalibrated;                             // ... and off for a model nobody calibrated
  REQUIRE(resolve_spread_threshold({{"epochs", "2"}}, uncalibrated).ok());
  CHECK(uncalibrated.class_spread_threshold == 0);
  PruneConfig fixed;  // ... or where a fixed threshold is set
  fixed.class_spread_threshold = 0.6;
  REQUIRE(resolve_spread_threshold(meta, fixed).ok());
  CHECK(fixed.class_spread_threshold == 0.6);
  PruneConfig off;
  off.class_spread_share = 0;
  REQUIRE(resolve_spread_threshold(meta, off).ok());
  CHECK(off.class_spread_threshold == 0);
  auto automatic = PruneConfig::from_json(PruneConfig().to_json());
  REQUIRE(automatic.ok());
  CHECK(automatic->class_spread_share == PruneConfig::kAutoClassSpreadShare);
  prune = PruneConfig();
  prune.class_spread_share = 0.3;
  prune.class_spread_threshold = 0.9;  // a share overrides a fixed threshold
  REQUIRE(resolve_spread_threshold(meta, prune).ok());
  CHECK(prune.class_spread_threshold == Approx(0.3));
  auto json = PruneConfig::from_json(prune.to_json());
  REQUIRE(json.ok());
  CHECK(json->class_spread_share == 0.3);

  // A model without a curve, or with a broken one, is an error that says what is missing.
  auto missing = resolve_spread_threshold({{"epochs", "2"}}, prune);  // asked for a share
  CHECK(missing.code() == Status::Code::kNotFound);
  CHECK(missing.message().find(kSpreadCurveMetaKey) != std::string::npos);
  for (const char* broken : {"[0.1]", "[0.1, \"x\"]", "{}", "not json"}) {
    meta[kSpreadCurveMetaKey] = broken;
    CHECK(resolve_spread_threshold(meta, prune).code() == Status::Code::kInvalidArgument);
    // Automatic too: damaged metadata is reported, not taken for "uncalibrated".
    PruneConfig automatic_share;
    CHECK(resolve_spread_threshold(meta, automatic_share).code() == Status::Code::kInvalidArgument);
  }
  PruneConfig bad;
  bad.class_spread_share = 1.5;
  CHECK_FALSE(bad.validate().ok());
}

TEST_CASE("the spread curve of one-hot outputs is k / classes") {
  // Four classes, five samples each, each output certain of its own label.
  std::vector<double> proba;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 20; ++i) {
    labels.push_back(i % 4);
    for (int64_t c = 0; c < 4; ++c) proba.push_back(c == i % 4 ? 1.0 : 0.0);
  }
  SpreadCurveConfig config;
  config.samples = 12;  // divisible by 1..4: every draw exactly even
  auto curve = spread_curve(proba, labels, 4, config);
  REQUIRE(curve.ok());
  REQUIRE(curve->size() == 4);
  for (size_t k = 1; k <= 4; ++k) CHECK((*curve)[k - 1] == Approx(k / 4.0));
  // Rows that do not match the labels, and a class without samples, are named errors.
  CHECK_FALSE(spread_curve(std::vector<double>(proba.begin(), proba.end() - 1), labels, 4).ok());
  labels[3] = 2;  // class 3 now has 4 samples; drop them all
  for (auto& l : labels) l = l == 3 ? 0 : l;
  auto missing = spread_curve(proba, labels, 4);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("class 3") != std::string::npos);
}

TEST_CASE("a model that separates its classes spreads k-class data over k classes") {
  auto model = fp::testing::trained_cluster_mlp();
  const Dataset labeled =
      fp::testing::cluster_data({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 100, /*seed=*/21);
  SpreadCurveConfig config;
  config.seed = 3;
  auto curve = measure_spread_curve(*model, labeled, config);
  REQUIRE(curve.ok());
  REQUIRE(curve->size() == 10);
  // A confident, accurate model: the mean softmax is near-uniform over the k classes drawn.
  for (size_t k = 1; k <= 10; ++k) {
    INFO("k = " << k);
    CHECK(std::abs((*curve)[k - 1] - static_cast<double>(k) / 10) < 0.06);
  }
  auto again = measure_spread_curve(*model, labeled, config);
  REQUIRE(again.ok());
  CHECK(*again == *curve);  // the seed fixes the draws

  // Every class must be there to draw from; a label the model lacks is named.
  auto missing = measure_spread_curve(*model, fp::testing::cluster_data({0, 1, 2}, 20, 4));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("class 3") != std::string::npos);

  // personalize() refuses a share nobody resolved into a threshold.
  PersonalizeConfig c;
  c.prune.class_spread_share = 0.5;
  auto unresolved = personalize(*model, labeled, labeled, c);
  REQUIRE_FALSE(unresolved.ok());
  CHECK(unresolved.status().message().find("class_spread_share") != std::string::npos);
}

namespace {

// A quick general model for the cluster data: a small MLP, two epochs, nothing held out.
GeneralModelConfig small_general_model() {
  GeneralModelConfig gc;
  gc.arch = "mlp";
  gc.width_mult = 0.25;
  gc.threads = 1;
  gc.train.epochs = 2;
  gc.train.learning_rate = 1e-2;
  return gc;
}

}  // namespace

TEST_CASE("fp-coordinator train's general model carries its spread curve from held-out samples") {
  const Dataset data = fp::testing::cluster_data({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 100, 31);
  GeneralModelConfig gc = small_general_model();
  gc.validation_fraction = 0.2;
  auto trained = train_general_model(data, gc);
  REQUIRE(trained.ok());
  ArtifactInfo info;
  REQUIRE(deserialize_model(trained->artifact, &info).ok());
  auto curve = spread_curve_from_meta(info.meta);  // in the shipped bytes, not just beside
  REQUIRE(curve.ok());
  CHECK(curve->size() == 10);
  CHECK(info.meta["class_spread_calibration"].find("200 held-out samples") == 0);

  gc.validation_fraction = 0;  // nothing held out: no curve, and no pretence of one
  auto bare = train_general_model(data, gc);
  REQUIRE(bare.ok());
  CHECK(bare->meta.count(kSpreadCurveMetaKey) == 0);

  // One sample cannot be both trained on and held out: said as such, not "empty data set".
  gc.validation_fraction = 0.2;
  auto one = train_general_model(data.select({0}), gc);
  REQUIRE_FALSE(one.ok());
  CHECK(one.status().message().rfind("1 general training sample cannot be split", 0) == 0);
}

TEST_CASE("a model trained elsewhere is calibrated into a new artifact that carries its curve") {
  const Dataset data = fp::testing::cluster_data({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 100, 41);
  GeneralModelConfig gc = small_general_model();
  gc.meta = {{"trained_by", "someone else"}};
  auto trained = train_general_model(data, gc);  // nothing held out: no curve
  REQUIRE(trained.ok());
  REQUIRE(trained->meta.count(kSpreadCurveMetaKey) == 0);

  const Dataset labeled = fp::testing::cluster_data({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 30, 42);
  auto calibrated = calibrate_artifact(trained->artifact, labeled, "test samples", 5);
  REQUIRE(calibrated.ok());
  CHECK(*calibrated != trained->artifact);
  ArtifactInfo info;
  auto model = deserialize_model(*calibrated, &info);
  REQUIRE(model.ok());
  auto curve = spread_curve_from_meta(info.meta);
  REQUIRE(curve.ok());
  // The curve the model's own measurement gives, with the same draws.
  SpreadCurveConfig sc;
  sc.seed = 5;
  auto expected = measure_spread_curve(**model, labeled, sc);
  REQUIRE(expected.ok());
  REQUIRE(curve->size() == expected->size());
  for (size_t i = 0; i < curve->size(); ++i) {
    CHECK(std::abs((*curve)[i] - (*expected)[i]) < 1e-4);  // stored to four decimals
  }
  CHECK(info.meta["trained_by"] == "someone else");  // the rest of the metadata is kept
  CHECK(info.meta["class_spread_calibration"].find("300 test samples") == 0);
  // The weights are the model's: the same outputs as the uncalibrated artifact.
  auto original = deserialize_model(trained->artifact);
  REQUIRE(original.ok());
  torch::NoGradGuard no_grad;
  CHECK(torch::equal((*original)->forward(labeled.inputs), (*model)->forward(labeled.inputs)));

  // Data the model cannot read, or of other classes, are refused by name.
  Dataset other_shape = labeled;
  other_shape.inputs = torch::zeros({30, 1, 5, 5});
  auto wrong_shape = calibrate_artifact(trained->artifact, other_shape, "odd data");
  REQUIRE_FALSE(wrong_shape.ok());
  CHECK(wrong_shape.status().message().find("odd data") != std::string::npos);
  Dataset renamed = labeled;
  renamed.class_names[3] = "not-a-class";
  auto wrong_classes = calibrate_artifact(trained->artifact, renamed, "renamed data");
  REQUIRE_FALSE(wrong_classes.ok());
  CHECK(wrong_classes.status().message().find("not-a-class") != std::string::npos);
  std::string damaged = trained->artifact;
  damaged[damaged.size() / 2] ^= 0x10;
  auto broken = calibrate_artifact(damaged, labeled, "test samples");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.status().message().find("not a usable model artifact") != std::string::npos);
}
