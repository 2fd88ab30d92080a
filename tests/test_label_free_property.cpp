// Label-freeness as a property, not a signature: every label-free method gives
// bit-identical masks, selector scores and outputs whether the adaptation data it is
// handed carry the true labels, shuffled labels, garbage labels or none. The labels
// ride on the Dataset passed in, where an implementation that cheated could read them.
#include <cmath>
#include <set>
#include <sstream>

#include "experiment/personalize.h"
#include "models/model_factory.h"
#include "synthetic_clusters.h"

// After torch: glog (pulled in by torch) defines its own CHECK, which Catch must override.
#include <catch2/catch.hpp>

using namespace fp;

namespace {

// The individual: three of the ten classes. Adaptation and evaluation are disjoint draws.
const std::vector<int64_t> kIndividual = {1, 4, 8};

struct LabelVariant {
  std::string name;
  Dataset adaptation;
};

// The same inputs with the true labels, a permutation of them, values no label could
// have (negative and far beyond the class count), and none at all.
std::vector<LabelVariant> label_variants(const Dataset& adaptation) {
  const int64_t n = adaptation.size();
  Dataset shuffled = adaptation;
  torch::manual_seed(99);
  shuffled.labels = adaptation.labels.index_select(0, torch::randperm(n, torch::kLong));
  Dataset garbage = adaptation;
  garbage.labels = torch::arange(n, torch::kLong) * 7919 - 5;
  return {{"true labels", adaptation},
          {"shuffled labels", shuffled},
          {"garbage labels", garbage},
          {"no labels", adaptation.without_labels()}};
}

struct Method {
  std::string name;
  PersonalizeConfig config;
};

// Fine-Pruning with every criterion, granularity, scope and selector, with and without
// output-class removal, one-shot and iterative.
std::vector<Method> label_free_methods(const std::vector<Criterion>& criteria) {
  std::vector<Method> out;
  const std::pair<const char*, int> selectors[] = {{"fixed target", -1},
                                                   {"pseudo_label bisection", 0},
                                                   {"pseudo_label scan", 1},
                                                   {"confidence", 2},
                                                   {"neg_entropy", 3}};
  for (auto criterion : criteria)
    for (auto granularity : {Granularity::kUnit, Granularity::kWeight})
      for (auto scope : {Scope::kGlobal, Scope::kPerLayer})
        for (double usage : {0.0, 0.05})
          for (const auto& [selector_name, selector] : selectors) {
            PersonalizeConfig c;
            c.run_finetune = false;
            c.run_svd = false;
            c.prune.criterion = criterion;
            c.prune.granularity = granularity;
            c.prune.scope = scope;
            c.prune.output_usage_threshold = usage;
            c.prune.target_sparsity = 0.4;
            c.heldout_fraction = 0.3;
            c.select_sparsity = selector >= 0;
            c.selector.bisection = selector == 0;
            c.selector.score = selector <= 1   ? SelectionScore::kPseudoLabelAgreement
                               : selector == 2 ? SelectionScore::kConfidence
                                               : SelectionScore::kNegEntropy;
            c.selector.min_agreement = 0.9;
            std::ostringstream name;
            name << criterion_name(criterion) << "/" << granularity_name(granularity) << "/"
                 << scope_name(scope) << "/usage " << usage << "/" << selector_name;
            out.push_back({name.str(), c});
            if (selector < 0) {  // the iterative schedule re-records between steps
              c.prune.schedule = Schedule::kIterative;
              c.prune.iterative_steps = 3;
              out.push_back({name.str() + "/iterative", c});
            }
          }
  return out;
}

bool same_double(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;  // bitwise-equal values, NaN = not scored
}

void require_same_method_result(const MethodResult& a, const MethodResult& b) {
  CHECK(a.accuracy == b.accuracy);
  CHECK(a.sparsity == b.sparsity);
  CHECK(a.parameters == b.parameters);
  CHECK(a.macs_per_sample == b.macs_per_sample);
  CHECK(a.compute_macs == b.compute_macs);
}

// Everything a label-free personalization produces, compared exactly.
void require_identical(const PersonalizeResult& a, const PersonalizeResult& b,
                       const torch::Tensor& probe) {
  // Selector: the same candidates, each score value by value, the same choice.
  REQUIRE(a.selection.candidates == b.selection.candidates);
  REQUIRE(a.selection.scores.size() == b.selection.scores.size());
  for (size_t i = 0; i < a.selection.scores.size(); ++i) {
    INFO("candidate " << a.selection.candidates[i] << ": " << a.selection.scores[i] << " vs "
                      << b.selection.scores[i]);
    CHECK(same_double(a.selection.scores[i], b.selection.scores[i]));
  }
  CHECK(a.selection.chosen == b.selection.chosen);
  CHECK(a.selection.forward_samples == b.selection.forward_samples);
  // Masks of every layer.
  const auto& la = a.personalized->layers();
  const auto& lb = b.personalized->layers();
  REQUIRE(la.size() == lb.size());
  for (size_t i = 0; i < la.size(); ++i) {
    INFO("layer " << a.personalized->layer_names()[i]);
    CHECK(torch::equal(la[i]->unit_mask(), lb[i]->unit_mask()));
    CHECK(torch::equal(la[i]->weight_mask(), lb[i]->weight_mask()));
  }
  // Reported numbers and the personalized model's outputs.
  require_same_method_result(a.fine_prune, b.fine_prune);
  CHECK(a.sparsity.zeroed_weights == b.sparsity.zeroed_weights);
  torch::NoGradGuard no_grad;
  a.personalized->eval();
  b.personalized->eval();
  CHECK(torch::equal(a.personalized->forward(probe), b.personalized->forward(probe)));
}

// Runs every method twice or more on the same inputs, one run per label variant, and
// requires identical results; the methods must also really choose (else identical
// results would prove nothing).
void check_label_free(const std::vector<Criterion>& criteria) {
  torch::set_num_threads(1);  // bit-identical reductions
  auto general = testing::trained_cluster_mlp();
  const Dataset adaptation = testing::cluster_data(kIndividual, 60, 21);
  const Dataset evaluation = testing::cluster_data(kIndividual, 30, 22);
  const auto variants = label_variants(adaptation);
  const torch::Tensor probe = testing::cluster_data({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 5, 23).inputs;

  std::set<double> chosen;
  int64_t class_removals = 0;
  for (const auto& method : label_free_methods(criteria)) {
    INFO(method.name);
    auto reference = personalize(*general, variants[0].adaptation, evaluation, method.config);
    REQUIRE(reference.ok());
    if (method.config.select_sparsity) chosen.insert(reference->selection.chosen);
    class_removals += 10 - reference->personalized->layers().back()->num_active_units();
    for (size_t v = 1; v < variants.size(); ++v) {
      INFO("against " << variants[v].name);
      auto other = personalize(*general, variants[v].adaptation, evaluation, method.config);
      REQUIRE(other.ok());
      require_identical(*reference, *other, probe);
    }
  }
  // The selectors chose several different sparsities, some well above zero, and output-class
  // removal removed classes this individual does not use.
  CHECK(chosen.size() >= 3);
  CHECK(*chosen.rbegin() >= 0.3);
  CHECK(class_removals > 0);
}

}  // namespace

TEST_CASE(
    "Fine-Pruning by energy gives identical results with true, shuffled, garbage or no labels",
    "[prune][label-free]") {
  check_label_free({Criterion::kEnergy});
}

TEST_CASE("Fine-Pruning by mean, firing rate and |w|*sqrt(E_in) is label-free the same way",
          "[prune][label-free][slow]") {
  check_label_free(
      {Criterion::kMean, Criterion::kFiringRate, Criterion::kActivationWeightedMagnitude});
}
