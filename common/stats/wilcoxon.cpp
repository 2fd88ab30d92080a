#include "stats/wilcoxon.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fp::stats {
namespace {

// Mid-ranks (1-based) of `values` (non-negative) and the sizes of their tie groups: a group
// is the values within `tolerance` (relative) of its smallest.
std::vector<double> mid_ranks(const std::vector<double>& values, double tolerance,
                              std::vector<int64_t>& ties) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  const auto tied = [&](double first, double next) {
    return next - first <= tolerance * std::max(std::fabs(first), std::fabs(next));
  };
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && tied(values[order[i]], values[order[j + 1]])) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    ties.push_back(static_cast<int64_t>(j - i + 1));
    i = j + 1;
  }
  return ranks;
}

// Two-sided exact p-value: W+ (doubled) is a sum of a random subset of `doubled_ranks`.
double exact_p(const std::vector<int64_t>& doubled_ranks, int64_t observed) {
  const int64_t total = std::accumulate(doubled_ranks.begin(), doubled_ranks.end(), int64_t{0});
  std::vector<double> prob(static_cast<size_t>(total) + 1, 0.0);
  prob[0] = 1.0;
  int64_t reach = 0;
  for (int64_t r : doubled_ranks) {
    for (int64_t s = reach; s >= 0; --s) {
      const double p = prob[static_cast<size_t>(s)] * 0.5;
      prob[static_cast<size_t>(s)] = p;
      prob[static_cast<size_t>(s + r)] += p;
    }
    reach += r;
  }
  double lower = 0, upper = 0;
  for (int64_t s = 0; s <= total; ++s) {
    if (s <= observed) lower += prob[static_cast<size_t>(s)];
    if (s >= observed) upper += prob[static_cast<size_t>(s)];
  }
  return std::min(1.0, 2.0 * std::min(lower, upper));
}

}  // namespace

WilcoxonResult wilcoxon_signed_rank(const std::vector<double>& differences,
                                    const WilcoxonOptions& options) {
  WilcoxonResult r;
  r.n = static_cast<int64_t>(differences.size());
  const bool pratt = options.zeros == ZeroMethod::kPratt;
  std::vector<double> d;  // the differences that are ranked
  for (double x : differences) {
    const bool zero = std::fabs(x) <= options.zero_tolerance;
    r.zeros += zero;
    if (!zero)
      d.push_back(x);
    else if (pratt)
      d.push_back(0.0);
  }
  const int64_t nonzero = r.n - r.zeros;
  if (nonzero == 0) return r;  // no evidence either way: p = 1

  std::vector<double> magnitude(d.size());
  for (size_t i = 0; i < d.size(); ++i) magnitude[i] = std::fabs(d[i]);
  std::vector<int64_t> ties;
  const std::vector<double> ranks = mid_ranks(magnitude, options.tie_tolerance, ties);
  std::vector<int64_t> doubled;  // ranks of the non-zero differences, doubled to integers
  int64_t observed = 0;
  std::vector<int64_t> nonzero_ties;  // tie group sizes among non-zero |d|
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == 0.0) continue;
    doubled.push_back(std::llround(2.0 * ranks[i]));
    if (d[i] > 0) {
      r.w_plus += ranks[i];
      observed += doubled.back();
    } else {
      r.w_minus += ranks[i];
    }
  }
  if (nonzero <= options.exact_max_n) {
    r.exact = true;
    r.p_value = exact_p(doubled, observed);
    return r;
  }
  // Normal approximation. The tie correction counts tie groups among non-zero |d|
  // (the zero group of Pratt's ranking is removed by the zero correction instead).
  std::vector<double> nz_magnitude;
  for (double x : d)
    if (x != 0.0) nz_magnitude.push_back(std::fabs(x));
  mid_ranks(nz_magnitude, options.tie_tolerance, nonzero_ties);
  const double n = static_cast<double>(pratt ? r.n : nonzero);
  const double z0 = pratt ? static_cast<double>(r.zeros) : 0.0;
  const double mean = (n * (n + 1) - z0 * (z0 + 1)) / 4.0;
  double var = (n * (n + 1) * (2 * n + 1) - z0 * (z0 + 1) * (2 * z0 + 1)) / 24.0;
  for (int64_t t : nonzero_ties) var -= static_cast<double>(t * t * t - t) / 48.0;
  double dev = r.w_plus - mean;
  if (options.continuity) dev = dev > 0 ? std::max(0.0, dev - 0.5) : std::min(0.0, dev + 0.5);
  r.z = var > 0 ? dev / std::sqrt(var) : 0.0;
  r.p_value = std::min(1.0, std::erfc(std::fabs(r.z) / std::sqrt(2.0)));
  return r;
}

}  // namespace fp::stats
