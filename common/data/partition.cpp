#include "data/partition.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

namespace fp {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Every draw goes through this class so a seed gives the same individuals with any
// standard library: std::mt19937_64 is specified bit-exactly, std::*_distribution is not.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}

  // Uniform integer in [0, n), n > 0 (rejection sampling, so unbiased).
  uint64_t index(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const uint64_t r = gen_();
      if (r >= threshold) return r % n;
    }
  }

  // Uniform double in [0, 1).
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }

  // log of a Gamma(alpha, 1) draw (Marsaglia & Tsang). Logs keep tiny alphas from
  // underflowing every Dirichlet component to zero.
  double log_gamma_draw(double alpha) {
    if (alpha < 1.0) {
      // Gamma(a) = Gamma(a + 1) * U^(1/a).
      const double u = 1.0 - uniform();
      return log_gamma_draw(alpha + 1.0) + std::log(u) / alpha;
    }
    const double d = alpha - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = 1.0 - uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return std::log(d * v);
    }
  }

  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[index(i)]);
  }

  // `count` distinct elements of `v`, in random order (partial Fisher-Yates on a copy).
  template <typename T>
  std::vector<T> sample(std::vector<T> v, size_t count) {
    for (size_t j = 0; j < count; ++j) std::swap(v[j], v[j + index(v.size() - j)]);
    v.resize(count);
    return v;
  }

 private:
  std::mt19937_64 gen_;
};

std::string join(const std::vector<int64_t>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

// Pool samples grouped by class position; with `disjoint`, a cursor per class marks
// how many of its (shuffled) samples earlier individuals have taken.
class ClassPool {
 public:
  ClassPool(const std::vector<int64_t>& labels, const std::vector<int64_t>& classes, Rng& rng,
            bool disjoint)
      : classes_(classes),
        by_class_(classes.size()),
        used_(classes.size(), 0),
        disjoint_(disjoint) {
    for (size_t i = 0; i < labels.size(); ++i) {
      const auto pos = std::lower_bound(classes.begin(), classes.end(), labels[i]);
      if (pos == classes.end() || *pos != labels[i]) continue;  // a class left out of the draw
      by_class_[pos - classes.begin()].push_back(static_cast<int64_t>(i));
    }
    for (auto& members : by_class_) rng.shuffle(members);
  }

  size_t available(size_t c) const {
    return disjoint_ ? by_class_[c].size() - used_[c] : by_class_[c].size();
  }

  Result<std::vector<int64_t>> take(size_t c, size_t count, Rng& rng, const std::string& who) {
    if (count > available(c)) {
      return Status::invalid_argument(
          "partition: " + who + " needs " + std::to_string(count) + " samples of class " +
          std::to_string(classes_[c]) + " but only " + std::to_string(available(c)) +
          (disjoint_ ? " unused ones remain (individuals are disjoint: lower the samples per "
                       "individual or the number of individuals, [partition] samples and "
                       "individuals in a scenario, or let them overlap, disjoint = false)"
                     : " exist"));
    }
    if (!disjoint_) return rng.sample(by_class_[c], count);
    const auto begin = by_class_[c].begin() + static_cast<std::ptrdiff_t>(used_[c]);
    used_[c] += count;
    return std::vector<int64_t>(begin, begin + static_cast<std::ptrdiff_t>(count));
  }

 private:
  std::vector<int64_t> classes_;
  std::vector<std::vector<int64_t>> by_class_;
  std::vector<size_t> used_;
  bool disjoint_;
};

// Splits one individual's samples into evaluation and adaptation, per class, so that
// both sets hold every class with at least two samples whenever the totals allow it.
Individual split_individual(std::string name, const std::vector<int64_t>& members,
                            const std::vector<int64_t>& labels, double eval_fraction, Rng& rng) {
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i : members) by_class[labels[i]].push_back(i);
  std::vector<std::vector<int64_t>> groups;
  Individual ind;
  ind.name = std::move(name);
  for (auto& [label, idx] : by_class) {
    ind.classes.push_back(label);
    rng.shuffle(idx);
    groups.push_back(std::move(idx));
  }

  const int64_t n = static_cast<int64_t>(members.size());
  int64_t target = std::llround(eval_fraction * static_cast<double>(n));
  if (n >= 2) target = std::clamp<int64_t>(target, 1, n - 1);

  const size_t c_count = groups.size();
  std::vector<int64_t> lo(c_count), hi(c_count), take(c_count);
  int64_t sum_lo = 0, sum_hi = 0;
  for (size_t c = 0; c < c_count; ++c) {
    const int64_t m = static_cast<int64_t>(groups[c].size());
    lo[c] = m >= 2 ? 1 : 0;
    hi[c] = m >= 2 ? m - 1 : m;
    sum_lo += lo[c];
    sum_hi += hi[c];
  }
  if (target < sum_lo || target > sum_hi) {  // stratification impossible: only the total counts
    for (size_t c = 0; c < c_count; ++c) {
      lo[c] = 0;
      hi[c] = static_cast<int64_t>(groups[c].size());
    }
  }
  int64_t sum = 0;
  std::vector<double> ideal(c_count);
  for (size_t c = 0; c < c_count; ++c) {
    ideal[c] = eval_fraction * static_cast<double>(groups[c].size());
    take[c] = std::clamp(static_cast<int64_t>(std::floor(ideal[c])), lo[c], hi[c]);
    sum += take[c];
  }
  // Largest remainder: move one sample at a time where it is furthest from its share.
  while (sum != target) {
    const int step = sum < target ? 1 : -1;
    size_t best = c_count;
    double best_gap = -std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < c_count; ++c) {
      if (step > 0 ? take[c] >= hi[c] : take[c] <= lo[c]) continue;
      const double gap = step * (ideal[c] - static_cast<double>(take[c]));
      if (gap > best_gap) {
        best_gap = gap;
        best = c;
      }
    }
    take[best] += step;
    sum += step;
  }

  for (size_t c = 0; c < c_count; ++c) {
    const auto split = groups[c].begin() + take[c];
    ind.evaluation.insert(ind.evaluation.end(), groups[c].begin(), split);
    ind.adaptation.insert(ind.adaptation.end(), split, groups[c].end());
  }
  rng.shuffle(ind.evaluation);
  rng.shuffle(ind.adaptation);
  return ind;
}

// C(n, k), saturating instead of overflowing.
uint64_t binomial(uint64_t n, uint64_t k) {
  k = std::min(k, n - k);
  uint64_t r = 1;
  for (uint64_t i = 1; i <= k; ++i) {
    const uint64_t num = n - k + i;
    if (r > std::numeric_limits<uint64_t>::max() / num) return std::numeric_limits<uint64_t>::max();
    r = r * num / i;  // exact: r * num is divisible by i at every step
  }
  return r;
}

// Class-position sets for kKClasses. Sets are distinct until all C(C,k) have been handed
// out (then the cycle starts again); among the unused sets, those whose classes have been
// used least win, which spreads classes evenly so disjoint pools last longer.
std::vector<std::vector<size_t>> choose_class_sets(size_t num_classes, size_t k, int64_t count,
                                                   Rng& rng) {
  constexpr uint64_t kEnumerateLimit = 20000;
  const uint64_t total = binomial(num_classes, k);
  std::vector<int64_t> usage(num_classes, 0);
  std::vector<std::vector<size_t>> out;
  auto record = [&](std::vector<size_t> set) {
    for (size_t c : set) ++usage[c];
    out.push_back(std::move(set));
  };

  if (total <= kEnumerateLimit) {
    std::vector<std::vector<size_t>> all;
    std::vector<size_t> cur(k);
    for (size_t i = 0; i < k; ++i) cur[i] = i;
    for (;;) {
      all.push_back(cur);
      size_t i = k;
      while (i > 0 && cur[i - 1] == num_classes - k + i - 1) --i;
      if (i == 0) break;
      ++cur[i - 1];
      for (size_t j = i; j < k; ++j) cur[j] = cur[j - 1] + 1;
    }
    rng.shuffle(all);
    std::vector<bool> used(all.size(), false);
    size_t used_count = 0;
    for (int64_t n = 0; n < count; ++n) {
      if (used_count == all.size()) {
        std::fill(used.begin(), used.end(), false);
        used_count = 0;
      }
      size_t best = all.size();
      int64_t best_score = std::numeric_limits<int64_t>::max();
      for (size_t j = 0; j < all.size(); ++j) {
        if (used[j]) continue;
        int64_t score = 0;
        for (size_t c : all[j]) score += usage[c];
        if (score < best_score) {
          best_score = score;
          best = j;
        }
      }
      used[best] = true;
      ++used_count;
      record(all[best]);
    }
    return out;
  }

  // Too many sets to list: least-used classes first (ties random), random sets on a clash.
  std::set<std::vector<size_t>> used;
  std::vector<size_t> positions(num_classes);
  for (size_t i = 0; i < num_classes; ++i) positions[i] = i;
  for (int64_t n = 0; n < count; ++n) {
    if (used.size() >= total) used.clear();
    std::vector<size_t> order = positions;
    rng.shuffle(order);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return usage[a] < usage[b]; });
    std::vector<size_t> set(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
    std::sort(set.begin(), set.end());
    while (used.count(set)) {
      set = rng.sample(positions, k);
      std::sort(set.begin(), set.end());
    }
    used.insert(set);
    record(std::move(set));
  }
  return out;
}

Status validate(const std::vector<int64_t>& labels, const std::vector<int64_t>& groups,
                const PartitionConfig& config, const std::vector<std::string>& group_names,
                size_t num_classes) {
  const auto bad = [](const std::string& m) { return Status::invalid_argument("partition: " + m); };
  if (labels.empty()) return bad("the pool has no samples");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0)
      return bad("label " + std::to_string(labels[i]) + " at " + std::to_string(i) +
                 " is negative");
  }
  if (!groups.empty() && groups.size() != labels.size()) {
    return bad(std::to_string(groups.size()) + " group ids for " + std::to_string(labels.size()) +
               " labels");
  }
  if (!(config.eval_fraction > 0.0 && config.eval_fraction < 1.0)) {
    return bad("eval_fraction must be in (0, 1), got " + std::to_string(config.eval_fraction));
  }
  if (config.samples_per_individual < 0 || config.samples_per_individual == 1) {
    return bad(
        "samples_per_individual must be 0 (all, natural only) or >= 2 (one adaptation "
        "and one evaluation sample), got " +
        std::to_string(config.samples_per_individual));
  }
  if (config.method == PartitionMethod::kNatural) {
    if (groups.empty()) return bad("method natural needs group ids (e.g. speakers)");
    for (size_t i = 0; i < groups.size(); ++i) {
      if (groups[i] < 0)
        return bad("group id " + std::to_string(groups[i]) + " at " + std::to_string(i) +
                   " is negative");
      if (!group_names.empty() && groups[i] >= static_cast<int64_t>(group_names.size())) {
        return bad("group id " + std::to_string(groups[i]) + " has no name (" +
                   std::to_string(group_names.size()) + " group names)");
      }
    }
    return Status();
  }
  if (config.num_individuals <= 0 || config.num_individuals > kMaxIndividuals) {
    return bad("num_individuals must be in [1, " + std::to_string(kMaxIndividuals) + "], got " +
               std::to_string(config.num_individuals));
  }
  if (config.samples_per_individual == 0) {
    return bad(std::string("samples_per_individual 0 (all) is only meaningful for natural, not ") +
               partition_method_name(config.method));
  }
  if (config.method == PartitionMethod::kKClasses) {
    for (int64_t k : config.k_values.empty() ? std::vector<int64_t>{config.k} : config.k_values) {
      if (k < 1 || k > static_cast<int64_t>(num_classes)) {
        return bad("k must be in [1, " + std::to_string(num_classes) +
                   "] (classes to draw from), got " + std::to_string(k));
      }
      if (config.samples_per_individual < k) {
        return bad("samples_per_individual " + std::to_string(config.samples_per_individual) +
                   " cannot cover k=" + std::to_string(k) + " classes");
      }
    }
  }
  if (config.method == PartitionMethod::kDirichlet &&
      !(config.alpha > 0.0 && std::isfinite(config.alpha))) {
    return bad("alpha must be a positive number, got " + std::to_string(config.alpha));
  }
  return Status();
}

// `pool_classes` (sorted, distinct) narrowed to config.classes, which must all be in it.
Result<std::vector<int64_t>> restrict_classes(const std::vector<int64_t>& pool_classes,
                                              const PartitionConfig& config) {
  const auto bad = [](const std::string& m) { return Status::invalid_argument("partition: " + m); };
  if (config.method == PartitionMethod::kNatural) {
    return bad(
        "classes cannot narrow a natural partition (an individual is a group, with "
        "whatever classes it holds)");
  }
  std::vector<int64_t> chosen(config.classes);
  std::sort(chosen.begin(), chosen.end());
  if (std::adjacent_find(chosen.begin(), chosen.end()) != chosen.end()) {
    return bad("classes lists a class twice: [" + join(config.classes, ", ") + "]");
  }
  for (int64_t c : chosen) {
    if (!std::binary_search(pool_classes.begin(), pool_classes.end(), c)) {
      return bad("classes names class " + std::to_string(c) +
                 ", which the pool does not hold (its classes: " + join(pool_classes, ", ") + ")");
    }
  }
  return chosen;
}

Result<std::vector<Individual>> partition_natural(const std::vector<int64_t>& labels,
                                                  const std::vector<int64_t>& groups,
                                                  const PartitionConfig& config,
                                                  const std::vector<std::string>& group_names,
                                                  Rng& rng) {
  std::map<int64_t, std::vector<int64_t>> members;
  for (size_t i = 0; i < groups.size(); ++i) members[groups[i]].push_back(static_cast<int64_t>(i));
  std::vector<Individual> out;
  for (auto& [group, idx] : members) {
    const std::string label =
        group_names.empty() ? std::to_string(group) : group_names[static_cast<size_t>(group)];
    const size_t want = config.samples_per_individual == 0
                            ? idx.size()
                            : static_cast<size_t>(config.samples_per_individual);
    if (idx.size() < 2 || want > idx.size()) {
      return Status::invalid_argument("partition: group " + label + " has " +
                                      std::to_string(idx.size()) + " samples, needs " +
                                      std::to_string(std::max<size_t>(want, 2)));
    }
    std::vector<int64_t> chosen = want == idx.size() ? idx : rng.sample(idx, want);
    out.push_back(split_individual("group=" + label, chosen, labels, config.eval_fraction, rng));
  }
  return out;
}

}  // namespace

const char* partition_method_name(PartitionMethod m) {
  switch (m) {
    case PartitionMethod::kNatural:
      return "natural";
    case PartitionMethod::kKClasses:
      return "k_classes";
    case PartitionMethod::kDirichlet:
      return "dirichlet";
    case PartitionMethod::kIid:
      return "iid";
  }
  return "unknown";
}

Result<PartitionMethod> parse_partition_method(const std::string& name) {
  for (PartitionMethod m : {PartitionMethod::kNatural, PartitionMethod::kKClasses,
                            PartitionMethod::kDirichlet, PartitionMethod::kIid}) {
    if (name == partition_method_name(m)) return m;
  }
  return Status::invalid_argument("unknown partition method '" + name +
                                  "' (expected natural, k_classes, dirichlet or iid)");
}

Result<std::vector<Individual>> partition(const std::vector<int64_t>& labels,
                                          const std::vector<int64_t>& groups,
                                          const PartitionConfig& config,
                                          const std::vector<std::string>& group_names) {
  std::vector<int64_t> classes(labels);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (!config.classes.empty()) {
    FP_ASSIGN_OR_RETURN(classes, restrict_classes(classes, config));
  }
  FP_RETURN_IF_ERROR(validate(labels, groups, config, group_names, classes.size()));

  Rng rng(config.seed);
  if (config.method == PartitionMethod::kNatural) {
    return partition_natural(labels, groups, config, group_names, rng);
  }

  const size_t n = static_cast<size_t>(config.samples_per_individual);
  std::vector<Individual> out;
  if (config.method == PartitionMethod::kIid) {
    std::vector<int64_t> all;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (std::binary_search(classes.begin(), classes.end(), labels[i]))
        all.push_back(static_cast<int64_t>(i));
    }
    rng.shuffle(all);
    size_t used = 0;
    for (int64_t i = 0; i < config.num_individuals; ++i) {
      const std::string name = "iid#" + std::to_string(i);
      const size_t available = config.disjoint ? all.size() - used : all.size();
      if (n > available) {
        return Status::invalid_argument("partition: " + name + " needs " + std::to_string(n) +
                                        " samples but only " + std::to_string(available) +
                                        (config.disjoint ? " unused ones remain" : " exist"));
      }
      std::vector<int64_t> chosen;
      if (config.disjoint) {
        chosen.assign(all.begin() + static_cast<std::ptrdiff_t>(used),
                      all.begin() + static_cast<std::ptrdiff_t>(used + n));
        used += n;
      } else {
        chosen = rng.sample(all, n);
      }
      out.push_back(split_individual(name, chosen, labels, config.eval_fraction, rng));
    }
    return out;
  }

  ClassPool pool(labels, classes, rng, config.disjoint);
  if (config.method == PartitionMethod::kKClasses) {
    // Individual i's class count, and its class set: the next one of that count's sets.
    const std::vector<int64_t> ks =
        config.k_values.empty() ? std::vector<int64_t>{config.k} : config.k_values;
    auto k_of = [&](int64_t i) {
      return static_cast<size_t>(ks[static_cast<size_t>(i) % ks.size()]);
    };
    std::map<size_t, int64_t> needed;
    for (int64_t i = 0; i < config.num_individuals; ++i) ++needed[k_of(i)];
    std::map<size_t, std::vector<std::vector<size_t>>> sets;
    std::map<size_t, size_t> next;
    for (const auto& [k, count] : needed)
      sets[k] = choose_class_sets(classes.size(), k, count, rng);
    for (int64_t i = 0; i < config.num_individuals; ++i) {
      const size_t k = k_of(i);
      std::vector<size_t> set = sets[k][next[k]++];
      std::vector<int64_t> set_labels;
      for (size_t c : set) set_labels.push_back(classes[c]);
      const std::string name = "classes=" + join(set_labels, "+") + "#" + std::to_string(i);
      rng.shuffle(set);  // which classes get the remainder's extra sample
      std::vector<int64_t> chosen;
      for (size_t j = 0; j < k; ++j) {
        const size_t count = n / k + (j < n % k ? 1 : 0);
        FP_ASSIGN_OR_RETURN(std::vector<int64_t> got, pool.take(set[j], count, rng, name));
        chosen.insert(chosen.end(), got.begin(), got.end());
      }
      out.push_back(split_individual(name, chosen, labels, config.eval_fraction, rng));
    }
    return out;
  }

  // kDirichlet: each sample's class is drawn from the individual's proportions, among
  // the classes that still have samples to give.
  const size_t num_classes = classes.size();
  for (int64_t i = 0; i < config.num_individuals; ++i) {
    const std::string name = "dirichlet#" + std::to_string(i);
    std::vector<double> p(num_classes);
    double max_log = -std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < num_classes; ++c) {
      p[c] = rng.log_gamma_draw(config.alpha);
      max_log = std::max(max_log, p[c]);
    }
    for (double& v : p) v = std::exp(v - max_log);  // normalisation is implicit in the draw

    std::vector<size_t> remaining(num_classes), counts(num_classes, 0);
    size_t total_remaining = 0;
    for (size_t c = 0; c < num_classes; ++c) total_remaining += remaining[c] = pool.available(c);
    if (n > total_remaining) {
      return Status::invalid_argument("partition: " + name + " needs " + std::to_string(n) +
                                      " samples but only " + std::to_string(total_remaining) +
                                      (config.disjoint ? " unused ones remain" : " exist"));
    }
    for (size_t s = 0; s < n; ++s) {
      double weight_sum = 0.0;
      for (size_t c = 0; c < num_classes; ++c) weight_sum += remaining[c] ? p[c] : 0.0;
      // Once every favoured class is spent, fall back to the remaining samples uniformly.
      const bool fallback = !(weight_sum > 0.0);
      if (fallback) weight_sum = static_cast<double>(total_remaining);
      double r = rng.uniform() * weight_sum;
      size_t pick = num_classes;
      for (size_t c = 0; c < num_classes; ++c) {
        if (!remaining[c]) continue;
        pick = c;  // the last eligible class absorbs rounding at the top end
        r -= fallback ? static_cast<double>(remaining[c]) : p[c];
        if (r < 0.0) break;
      }
      ++counts[pick];
      --remaining[pick];
      --total_remaining;
    }
    std::vector<int64_t> chosen;
    for (size_t c = 0; c < num_classes; ++c) {
      if (!counts[c]) continue;
      FP_ASSIGN_OR_RETURN(std::vector<int64_t> got, pool.take(c, counts[c], rng, name));
      chosen.insert(chosen.end(), got.begin(), got.end());
    }
    out.push_back(split_individual(name, chosen, labels, config.eval_fraction, rng));
  }
  return out;
}

}  // namespace fp
