// Partitioners: individuals' adaptation/evaluation sets from a labeled pool.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "data/partition.h"

using fp::Individual;
using fp::PartitionConfig;
using fp::PartitionMethod;

namespace {

// An FSDD-shaped pool: 10 classes x 300, 6 speakers x 500, interleaved.
struct Pool {
  std::vector<int64_t> labels, groups;
  std::vector<std::string> group_names = {"george",  "jackson", "lucas",
                                          "nicolas", "theo",    "yweweler"};
};

Pool make_pool(int64_t classes = 10, int64_t per_class = 300, int64_t speakers = 6) {
  Pool p;
  for (int64_t i = 0; i < classes * per_class; ++i) {
    p.labels.push_back(i % classes);
    p.groups.push_back((i / classes) % speakers);
  }
  return p;
}

std::vector<int64_t> all_of(const Individual& ind) {
  std::vector<int64_t> v = ind.adaptation;
  v.insert(v.end(), ind.evaluation.begin(), ind.evaluation.end());
  return v;
}

std::set<int64_t> classes_in(const std::vector<int64_t>& idx, const std::vector<int64_t>& labels) {
  std::set<int64_t> s;
  for (int64_t i : idx) s.insert(labels[i]);
  return s;
}

// Holds for every individual of every method.
void check_individual(const Individual& ind, const std::vector<int64_t>& labels) {
  INFO(ind.name);
  const std::vector<int64_t> all = all_of(ind);
  std::set<int64_t> unique(all.begin(), all.end());
  CHECK(unique.size() == all.size());  // no duplicates, adaptation and evaluation disjoint
  for (int64_t i : all) {
    REQUIRE(i >= 0);
    REQUIRE(i < static_cast<int64_t>(labels.size()));
  }
  const std::set<int64_t> present = classes_in(all, labels);
  CHECK(ind.classes == std::vector<int64_t>(present.begin(), present.end()));
  CHECK_FALSE(ind.adaptation.empty());
  CHECK_FALSE(ind.evaluation.empty());
}

void check_disjoint_across(const std::vector<Individual>& inds) {
  std::set<int64_t> seen;
  size_t total = 0;
  for (const auto& ind : inds) {
    for (int64_t i : all_of(ind)) seen.insert(i);
    total += all_of(ind).size();
  }
  CHECK(seen.size() == total);
}

std::vector<Individual> run(const Pool& pool, const PartitionConfig& config) {
  auto r = fp::partition(pool.labels, pool.groups, config, pool.group_names);
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  for (const auto& ind : *r) check_individual(ind, pool.labels);
  return *r;
}

bool same(const std::vector<Individual>& a, const std::vector<Individual>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].adaptation != b[i].adaptation ||
        a[i].evaluation != b[i].evaluation || a[i].classes != b[i].classes) {
      return false;
    }
  }
  return true;
}

std::string error_of(const Pool& pool, const PartitionConfig& config) {
  auto r = fp::partition(pool.labels, pool.groups, config, pool.group_names);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == fp::Status::Code::kInvalidArgument);
  return r.status().message();
}

}  // namespace

TEST_CASE("partition method names round-trip", "[partition]") {
  for (auto m : {PartitionMethod::kNatural, PartitionMethod::kKClasses, PartitionMethod::kDirichlet,
                 PartitionMethod::kIid}) {
    auto parsed = fp::parse_partition_method(fp::partition_method_name(m));
    REQUIRE(parsed.ok());
    CHECK(*parsed == m);
  }
  CHECK(std::string(fp::partition_method_name(PartitionMethod::kKClasses)) == "k_classes");
  auto bad = fp::parse_partition_method("kclasses");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("kclasses") != std::string::npos);
}

TEST_CASE("natural partition: one individual per speaker", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.method = PartitionMethod::kNatural;
  config.samples_per_individual = 0;
  config.num_individuals = 99;  // ignored
  const auto inds = run(pool, config);
  REQUIRE(inds.size() == 6);
  check_disjoint_across(inds);
  for (size_t g = 0; g < inds.size(); ++g) {
    INFO(inds[g].name);
    CHECK(inds[g].name == "group=" + pool.group_names[g]);
    CHECK(inds[g].adaptation.size() == 250);
    CHECK(inds[g].evaluation.size() == 250);
    for (int64_t i : all_of(inds[g])) CHECK(pool.groups[i] == static_cast<int64_t>(g));
    CHECK(inds[g].classes.size() == 10);
    // Stratified: each class contributes 25 of its 50 samples to evaluation.
    std::map<int64_t, int> eval_per_class;
    for (int64_t i : inds[g].evaluation) ++eval_per_class[pool.labels[i]];
    for (auto& [c, n] : eval_per_class) CHECK(n == 25);
  }

  config.samples_per_individual = 40;
  config.eval_fraction = 0.25;
  const auto subset = run(pool, config);
  REQUIRE(subset.size() == 6);
  for (const auto& ind : subset) {
    CHECK(ind.evaluation.size() == 10);
    CHECK(ind.adaptation.size() == 30);
  }

  // Without names, groups are named by id.
  auto unnamed = fp::partition(pool.labels, pool.groups, config);
  REQUIRE(unnamed.ok());
  CHECK(unnamed->at(2).name == "group=2");
}

TEST_CASE("k_classes partition with several class counts takes them in turn", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.method = PartitionMethod::kKClasses;
  config.k_values = {1, 3, 10};
  config.num_individuals = 9;
  config.samples_per_individual = 60;
  config.disjoint = false;
  const auto inds = run(pool, config);
  REQUIRE(inds.size() == 9);
  std::map<size_t, std::set<std::vector<int64_t>>> sets_by_k;
  for (size_t i = 0; i < inds.size(); ++i) {
    const auto& ind = inds[i];
    INFO(ind.name);
    const size_t k = static_cast<size_t>(config.k_values[i % 3]);
    REQUIRE(ind.classes.size() == k);
    CHECK(classes_in(all_of(ind), pool.labels).size() == k);
    CHECK(static_cast<size_t>(std::count(ind.name.begin(), ind.name.end(), '+')) == k - 1);
    CHECK(ind.adaptation.size() + ind.evaluation.size() == 60);
    sets_by_k[k].insert(ind.classes);
  }
  CHECK(sets_by_k[1].size() == 3);  // distinct sets within each count
  CHECK(sets_by_k[3].size() == 3);
  // A count the pool cannot serve is named.
  config.k_values = {2, 11};
  auto bad = partition(pool.labels, {}, config);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("got 11"));
}

TEST_CASE("k_classes partition: exactly k classes, evenly, distinct sets", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.method = PartitionMethod::kKClasses;
  config.k = 2;
  config.num_individuals = 10;
  config.samples_per_individual = 100;
  const auto inds = run(pool, config);
  REQUIRE(inds.size() == 10);
  check_disjoint_across(inds);
  std::set<std::vector<int64_t>> sets;
  std::map<int64_t, int> class_use;
  for (const auto& ind : inds) {
    INFO(ind.name);
    REQUIRE(ind.classes.size() == 2);
    CHECK(ind.name.rfind("classes=" + std::to_string(ind.classes[0]) + "+" +
                             std::to_string(ind.classes[1]) + "#",
                         0) == 0);
    sets.insert(ind.classes);
    for (int64_t c : ind.classes) ++class_use[c];
    CHECK(ind.adaptation.size() == 50);
    CHECK(ind.evaluation.size() == 50);
    // 50 per class, split 25/25: both sets see both classes.
    CHECK(classes_in(ind.adaptation, pool.labels).size() == 2);
    CHECK(classes_in(ind.evaluation, pool.labels).size() == 2);
    std::map<int64_t, int> per_class;
    for (int64_t i : all_of(ind)) ++per_class[pool.labels[i]];
    for (auto& [c, n] : per_class) CHECK(n == 50);
  }
  CHECK(sets.size() == 10);  // 10 <= C(10,2): all different
  // Classes are spread: 20 slots over 10 classes, each used exactly twice.
  REQUIRE(class_use.size() == 10);
  for (auto& [c, n] : class_use) CHECK(n == 2);

  SECTION("uneven counts and other k") {
    config.k = 3;
    config.samples_per_individual = 100;
    config.eval_fraction = 0.3;
    for (const auto& ind : run(pool, config)) {
      REQUIRE(ind.classes.size() == 3);
      CHECK(ind.evaluation.size() == 30);
      CHECK(ind.adaptation.size() == 70);
      std::map<int64_t, int> per_class;
      for (int64_t i : all_of(ind)) ++per_class[pool.labels[i]];
      std::vector<int> counts;
      for (auto& [c, n] : per_class) counts.push_back(n);
      std::sort(counts.begin(), counts.end());
      CHECK(counts == std::vector<int>({33, 33, 34}));
    }
  }
  SECTION("more individuals than class sets: every set used, then the cycle restarts") {
    config.k = 9;  // C(10, 9) = 10 sets
    config.num_individuals = 12;
    config.samples_per_individual = 18;
    const auto many = run(pool, config);
    std::set<std::vector<int64_t>> first_ten;
    for (size_t i = 0; i < 10; ++i) first_ten.insert(many[i].classes);
    CHECK(first_ten.size() == 10);
    CHECK(many[10].classes != many[11].classes);
    check_disjoint_across(many);
  }
  SECTION("k equal to the number of classes") {
    config.k = 10;
    config.num_individuals = 3;
    for (const auto& ind : run(pool, config)) CHECK(ind.classes.size() == 10);
  }
}

TEST_CASE("evaluation split is stratified where possible", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.method = PartitionMethod::kKClasses;
  config.k = 2;
  config.num_individuals = 5;
  config.eval_fraction = 0.1;

  config.samples_per_individual = 20;  // 2 evaluation samples: one per class
  for (const auto& ind : run(pool, config)) {
    CHECK(ind.evaluation.size() == 2);
    CHECK(classes_in(ind.evaluation, pool.labels).size() == 2);
    CHECK(classes_in(ind.adaptation, pool.labels).size() == 2);
  }
  config.samples_per_individual = 10;  // 1 evaluation sample: cannot hold both classes
  for (const auto& ind : run(pool, config)) {
    CHECK(ind.evaluation.size() == 1);
    CHECK(ind.adaptation.size() == 9);
    CHECK(classes_in(ind.adaptation, pool.labels).size() == 2);
  }
}

TEST_CASE("dirichlet partition follows alpha", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.method = PartitionMethod::kDirichlet;
  config.num_individuals = 10;
  config.samples_per_individual = 200;

  auto mean_top_share = [&](double alpha) {
    config.alpha = alpha;
    const auto inds = run(pool, config);
    REQUIRE(inds.size() == 10);
    check_disjoint_across(inds);
    double sum = 0.0;
    for (const auto& ind : inds) {
      CHECK(ind.name.rfind("dirichlet#", 0) == 0);
      CHECK(ind.evaluation.size() == 100);
      CHECK(ind.adaptation.size() == 100);
      std::map<int64_t, int> per_class;
      for (int64_t i : all_of(ind)) ++per_class[pool.labels[i]];
      int top = 0;
      for (auto& [c, n] : per_class) top = std::max(top, n);
      sum += top / 200.0;
    }
    return sum / 10.0;
  };
  const double skewed = mean_top_share(0.05);
  const double flat = mean_top_share(1000.0);
  INFO("mean top-class share: alpha 0.05 -> " << skewed << ", alpha 1000 -> " << flat);
  CHECK(skewed > 0.6);
  CHECK(flat < 0.2);

  // Tiny alpha with a disjoint pool: favoured classes run dry, the draw moves on.
  config.alpha = 0.01;
  config.num_individuals = 14;
  config.samples_per_individual = 200;
  const auto packed = run(pool, config);
  check_disjoint_across(packed);
}

TEST_CASE("iid partition and overlap control", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.method = PartitionMethod::kIid;
  config.num_individuals = 7;
  config.samples_per_individual = 400;
  const auto inds = run(pool, config);
  REQUIRE(inds.size() == 7);
  check_disjoint_across(inds);
  for (const auto& ind : inds) {
    CHECK(ind.classes.size() == 10);
    CHECK(ind.evaluation.size() + ind.adaptation.size() == 400);
  }

  // Disjoint pool runs out: 8 x 400 > 3000.
  config.num_individuals = 8;
  CHECK(error_of(pool, config).find("iid#7") != std::string::npos);

  // Overlap allowed: individuals share samples, each individual is still duplicate-free.
  config.disjoint = false;
  config.num_individuals = 10;
  config.samples_per_individual = 1000;
  const auto overlapping = run(pool, config);
  std::set<int64_t> seen;
  size_t total = 0;
  for (const auto& ind : overlapping) {
    for (int64_t i : all_of(ind)) seen.insert(i);
    total += all_of(ind).size();
  }
  CHECK(total == 10000);
  CHECK(seen.size() < total);
}

TEST_CASE("partitions are reproducible from the seed", "[partition]") {
  const Pool pool = make_pool();
  for (auto method : {PartitionMethod::kNatural, PartitionMethod::kKClasses,
                      PartitionMethod::kDirichlet, PartitionMethod::kIid}) {
    INFO(fp::partition_method_name(method));
    PartitionConfig config;
    config.method = method;
    config.num_individuals = 5;
    config.samples_per_individual = 100;
    config.seed = 42;
    const auto a = run(pool, config);
    const auto b = run(pool, config);
    CHECK(same(a, b));
    config.seed = 43;
    const auto c = run(pool, config);
    CHECK_FALSE(same(a, c));
  }
}

TEST_CASE("the pool running out is an error when individuals must be disjoint", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.method = PartitionMethod::kKClasses;
  config.k = 1;
  config.num_individuals = 11;  // 11 single-class individuals over 10 classes
  config.samples_per_individual = 200;
  const std::string msg = error_of(pool, config);
  CHECK(msg.find("only 100") != std::string::npos);
  // What to change, in the scenario's own keys (it named the C++ fields before).
  CHECK(msg.find("[partition] samples and individuals") != std::string::npos);
  CHECK(msg.find("disjoint = false") != std::string::npos);
  config.disjoint = false;
  CHECK(fp::partition(pool.labels, pool.groups, config).ok());

  PartitionConfig natural;
  natural.method = PartitionMethod::kNatural;
  natural.samples_per_individual = 501;  // each speaker has 500
  CHECK(error_of(pool, natural).find("group george has 500 samples") != std::string::npos);
}

TEST_CASE("invalid partition configs are rejected with the field named", "[partition]") {
  const Pool pool = make_pool();
  auto expect = [&](PartitionConfig config, const std::string& field) {
    INFO(field);
    CHECK(error_of(pool, config).find(field) != std::string::npos);
  };
  PartitionConfig base;
  base.method = PartitionMethod::kKClasses;
  base.samples_per_individual = 20;

  PartitionConfig c = base;
  c.k = 0;
  expect(c, "k must be in [1, 10]");
  c.k = 11;
  expect(c, "k must be in [1, 10]");
  c = base;
  c.k = 5;
  c.samples_per_individual = 4;
  expect(c, "cannot cover k=5");
  c = base;
  c.eval_fraction = 0.0;
  expect(c, "eval_fraction");
  c.eval_fraction = 1.0;
  expect(c, "eval_fraction");
  c = base;
  c.num_individuals = 0;
  expect(c, "num_individuals");
  c.num_individuals = kMaxIndividuals + 1;  // refused before any list is made, not out of memory
  expect(c, "num_individuals must be in [1, 1000000], got 1000001");
  c.disjoint = false;
  c.num_individuals = 999'999'999;
  expect(c, "num_individuals must be in [1, 1000000]");
  c = base;
  c.samples_per_individual = 1;
  expect(c, "samples_per_individual");
  c.samples_per_individual = -5;
  expect(c, "samples_per_individual");
  c = base;
  c.method = PartitionMethod::kIid;
  c.samples_per_individual = 0;
  expect(c, "only meaningful for natural");
  c = base;
  c.method = PartitionMethod::kDirichlet;
  c.alpha = 0.0;
  expect(c, "alpha");
  c.alpha = -1.0;
  expect(c, "alpha");

  PartitionConfig natural;
  natural.method = PartitionMethod::kNatural;
  auto no_groups = fp::partition(pool.labels, {}, natural);
  REQUIRE_FALSE(no_groups.ok());
  CHECK(no_groups.status().message().find("group ids") != std::string::npos);
  std::vector<int64_t> short_groups(pool.groups.begin(), pool.groups.end() - 1);
  CHECK_FALSE(fp::partition(pool.labels, short_groups, natural).ok());
  auto few_names = fp::partition(pool.labels, pool.groups, natural, {"a", "b"});
  REQUIRE_FALSE(few_names.ok());
  CHECK(few_names.status().message().find("has no name") != std::string::npos);

  CHECK(fp::partition({}, {}, base).status().message().find("no samples") != std::string::npos);
  auto negative = fp::partition({0, 1, -1}, {}, base);
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.status().message().find("negative") != std::string::npos);
}

TEST_CASE("sparse class labels are kept as given", "[partition]") {
  // Classes 3 and 7 only: k may be at most 2 and names use the real labels.
  std::vector<int64_t> labels;
  for (int i = 0; i < 100; ++i) labels.push_back(i % 2 ? 7 : 3);
  PartitionConfig config;
  config.k = 2;
  config.num_individuals = 2;
  config.samples_per_individual = 40;
  auto r = fp::partition(labels, {}, config);
  REQUIRE(r.ok());
  CHECK(r->at(0).classes == std::vector<int64_t>({3, 7}));
  CHECK(r->at(0).name == "classes=3+7#0");
  config.k = 3;
  CHECK_FALSE(fp::partition(labels, {}, config).ok());
}

TEST_CASE("a class list narrows every drawing method to those classes", "[partition]") {
  const Pool pool = make_pool();
  const std::set<int64_t> allowed = {1, 4, 8};
  for (PartitionMethod method :
       {PartitionMethod::kKClasses, PartitionMethod::kDirichlet, PartitionMethod::kIid}) {
    PartitionConfig config;
    config.method = method;
    config.classes = {8, 1, 4};  // any order
    config.num_individuals = 12;
    config.samples_per_individual = 30;
    auto r = fp::partition(pool.labels, {}, config);
    REQUIRE(r.ok());
    std::set<int64_t> seen;
    for (const Individual& ind : *r) {
      for (int64_t c : classes_in(all_of(ind), pool.labels)) {
        INFO(fp::partition_method_name(method) << " individual " << ind.name);
        CHECK(allowed.count(c) == 1);
        seen.insert(c);
      }
    }
    CHECK(seen == allowed);  // and every allowed class is used
  }
  // k_classes: the 3 possible pairs of the three classes, each in turn.
  PartitionConfig config;
  config.classes = {1, 4, 8};
  config.num_individuals = 3;
  config.samples_per_individual = 20;
  auto r = fp::partition(pool.labels, {}, config);
  REQUIRE(r.ok());
  std::set<std::vector<int64_t>> pairs;
  for (const Individual& ind : *r) pairs.insert(ind.classes);
  CHECK(pairs == std::set<std::vector<int64_t>>{{1, 4}, {1, 8}, {4, 8}});
}

TEST_CASE("an empty class list draws exactly as before", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.num_individuals = 5;
  config.samples_per_individual = 20;
  auto before = fp::partition(pool.labels, {}, config);
  config.classes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};  // every class: the same draws
  auto all = fp::partition(pool.labels, {}, config);
  REQUIRE(before.ok());
  REQUIRE(all.ok());
  for (size_t i = 0; i < before->size(); ++i) {
    CHECK(before->at(i).name == all->at(i).name);
    CHECK(before->at(i).adaptation == all->at(i).adaptation);
  }
}

TEST_CASE("a bad class list is rejected, naming the class", "[partition]") {
  const Pool pool = make_pool();
  PartitionConfig config;
  config.samples_per_individual = 20;
  auto message = [&] {
    auto r = fp::partition(pool.labels, pool.groups, config, pool.group_names);
    REQUIRE_FALSE(r.ok());
    return r.status().message();
  };
  config.classes = {2, 11};
  CHECK_THAT(message(), Catch::Contains("class 11") && Catch::Contains("does not hold"));
  config.classes = {2, 2};
  CHECK_THAT(message(), Catch::Contains("twice"));
  config.classes = {2};  // k = 2 needs two classes
  CHECK_THAT(message(), Catch::Contains("k must be in [1, 1]"));
  config.classes = {2, 3};
  config.method = PartitionMethod::kNatural;
  CHECK_THAT(message(), Catch::Contains("natural"));
}
