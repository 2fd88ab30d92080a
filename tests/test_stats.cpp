// The statistics the results tables report (common/stats). Reference values were
// computed with python3 (no scipy here): exact p-values by enumerating all 2^n sign
// patterns of the mid-ranks, normal approximations by the textbook formulas
// (mean n(n+1)/4, variance n(n+1)(2n+1)/24 - sum(t^3 - t)/48, Pratt's zero correction,
// continuity 0.5), and erfc from python's math module: tests/stats_reference.py.
#include <catch2/catch.hpp>
#include <cmath>

#include "stats/summary.h"

using namespace fp::stats;
using Catch::Detail::Approx;

TEST_CASE("mean, median and quantile by linear interpolation", "[stats]") {
  CHECK(mean({}) == 0.0);
  CHECK(mean({1, 2, 3, 6}) == Approx(3.0));
  CHECK(median({5, 1, 3}) == Approx(3.0));
  CHECK(median({4, 1, 3, 2}) == Approx(2.5));
  CHECK(quantile({0, 10}, 0.1) == Approx(1.0));
  CHECK(quantile({3, 1, 2}, 0.0) == Approx(1.0));
  CHECK(quantile({3, 1, 2}, 1.0) == Approx(3.0));
}

TEST_CASE("Wilcoxon exact p-values match enumeration of every sign pattern", "[stats]") {
  // All five positive: W+ = 15, P = 2 / 2^5.
  auto r = wilcoxon_signed_rank({1, 2, 3, 4, 5});
  CHECK(r.exact);
  CHECK(r.w_plus == Approx(15));
  CHECK(r.w_minus == Approx(0));
  CHECK(r.p_value == Approx(0.0625));
  // One negative of rank 2: W+ = 13, P(W+ >= 13) = P(W- <= 2) = 3/32.
  r = wilcoxon_signed_rank({1, -2, 3, 4, 5});
  CHECK(r.w_plus == Approx(13));
  CHECK(r.p_value == Approx(0.1875));
  // Ties: |d| = 1,1,1,2 get mid-ranks 2,2,2,4; W+ = 8; P(W+ >= 8) = 4/16.
  r = wilcoxon_signed_rank({1, 1, -1, 2});
  CHECK(r.w_plus == Approx(8));
  CHECK(r.p_value == Approx(0.5));
  r = wilcoxon_signed_rank({0.5, -0.25, 0.75, 1.0, -0.1, 0.3, 0.2, 0.9, -0.6, 0.05});
  CHECK(r.w_plus == Approx(42));
  CHECK(r.p_value == Approx(0.16015625));
  // Zeros dropped (Wilcoxon's treatment): the four non-zero ones, W+ = 7.
  r = wilcoxon_signed_rank({0, 0, 1, 2, -3, 4});
  CHECK(r.zeros == 2);
  CHECK(r.w_plus == Approx(7));
  CHECK(r.p_value == Approx(0.625));
  // The sign of the comparison does not change the two-sided p-value.
  CHECK(wilcoxon_signed_rank({-1, 2, -3, -4, -5}).p_value == Approx(0.1875));
}

TEST_CASE("Wilcoxon ties differences that differ only by rounding", "[stats]") {
  // Accuracies out of 60 evaluation samples: 32/60 - 31/60 and 31/60 - 30/60 are one
  // sample's worth each, but not the same double; ranked apart, W+ and p moved.
  const std::vector<std::pair<int, int>> pairs = {{32, 31}, {31, 30}, {35, 30}, {40, 35},
                                                  {30, 35}, {33, 31}, {50, 42}, {44, 41}};
  std::vector<double> noisy, exact;
  for (const auto& [a, b] : pairs) {
    noisy.push_back(a / 60.0 - b / 60.0);
    exact.push_back((a - b) / 60.0);
  }
  REQUIRE(noisy[0] != noisy[1]);  // the rounding this is about
  REQUIRE(noisy[2] != noisy[3]);
  const auto got = wilcoxon_signed_rank(noisy), want = wilcoxon_signed_rank(exact);
  // |d| in samples: 1, 1, 5, 5, 5, 2, 8, 3 -> mid-ranks 1.5, 1.5, 6, 6, 6, 3, 8, 4; the -5
  // has rank 6: W+ = 30 of 36.
  CHECK(want.w_plus == Approx(30));
  CHECK(got.w_plus == want.w_plus);
  CHECK(got.p_value == want.p_value);
  // Values apart by more than the tolerance stay apart.
  CHECK(wilcoxon_signed_rank({1.0, -(1.0 + 1e-6)}).w_plus == Approx(1));  // tied: 1.5
  CHECK(wilcoxon_signed_rank({1.0, -(1.0 + 1e-12)}).w_plus == Approx(1.5));
}

TEST_CASE("Wilcoxon with no non-zero difference has p = 1", "[stats]") {
  auto r = wilcoxon_signed_rank({0, 0, 0});
  CHECK(r.p_value == 1.0);
  CHECK(r.zeros == 3);
  CHECK(wilcoxon_signed_rank({}).p_value == 1.0);
}

TEST_CASE("Wilcoxon normal approximation with tie, zero and continuity corrections", "[stats]") {
  std::vector<double> d;
  for (int i = 0; i < 60; ++i) d.push_back(i % 7 - 2);  // many ties, 8 zeros
  WilcoxonOptions o;
  o.exact_max_n = 10;
  auto r = wilcoxon_signed_rank(d, o);
  CHECK_FALSE(r.exact);
  CHECK(r.w_plus == Approx(997.5));
  CHECK(r.z == Approx(3.1648639496857407).epsilon(1e-9));
  CHECK(r.p_value == Approx(0.001551554815651176).epsilon(1e-7));
  o.continuity = false;
  r = wilcoxon_signed_rank(d, o);
  CHECK(r.z == Approx(3.1696017699697014).epsilon(1e-9));
  CHECK(r.p_value == Approx(0.0015264799104482212).epsilon(1e-7));
  o.continuity = true;
  o.zeros = ZeroMethod::kPratt;
  r = wilcoxon_signed_rank(d, o);
  CHECK(r.w_plus == Approx(1294.5));
  CHECK(r.z == Approx(2.9812701143859774).epsilon(1e-9));
  CHECK(r.p_value == Approx(0.0028705547590736425).epsilon(1e-7));
}

TEST_CASE("Wilcoxon exact and normal p-values agree for moderate n", "[stats]") {
  std::vector<double> d;
  for (int i = 1; i <= 40; ++i) d.push_back((i % 3 == 0 ? -1.0 : 1.0) * i);
  auto exact = wilcoxon_signed_rank(d);
  WilcoxonOptions o;
  o.exact_max_n = 0;
  auto normal = wilcoxon_signed_rank(d, o);
  CHECK(exact.exact);
  CHECK_FALSE(normal.exact);
  CHECK(exact.p_value < 0.2);
  CHECK(normal.p_value == Approx(exact.p_value).margin(0.01));
}

TEST_CASE("bootstrap CI is seeded, contains the mean and shrinks with n", "[stats]") {
  CHECK(bootstrap_mean_ci({}).low == 0.0);
  auto one = bootstrap_mean_ci({0.7});
  CHECK(one.low == 0.7);
  CHECK(one.high == 0.7);
  auto constant = bootstrap_mean_ci({0.4, 0.4, 0.4, 0.4});
  CHECK(constant.low == Approx(0.4));
  CHECK(constant.high == Approx(0.4));

  // A deterministic sample with mean 0 and standard deviation ~1.
  auto sample = [](int n) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i) v.push_back(std::sqrt(3.0) * (2.0 * (i + 0.5) / n - 1.0));
    return v;
  };
  auto small = bootstrap_mean_ci(sample(25));
  auto large = bootstrap_mean_ci(sample(400));
  CHECK(small.low < 0.0);
  CHECK(small.high > 0.0);
  // The normal theory half-width is 1.96 / sqrt(n): 0.39 for 25, 0.098 for 400.
  CHECK((small.high - small.low) / 2 == Approx(1.96 / 5).epsilon(0.15));
  CHECK((large.high - large.low) / 2 == Approx(1.96 / 20).epsilon(0.15));
  // Same seed, same interval; another seed, (slightly) another interval.
  auto again = bootstrap_mean_ci(sample(25));
  CHECK(again.low == small.low);
  CHECK(again.high == small.high);
  BootstrapOptions other;
  other.seed = 7;
  auto reseeded = bootstrap_mean_ci(sample(25), other);
  CHECK(reseeded.low != small.low);
  // A higher confidence gives a wider interval.
  BootstrapOptions wide;
  wide.confidence = 0.99;
  auto w = bootstrap_mean_ci(sample(25), wide);
  CHECK(w.low < small.low);
  CHECK(w.high > small.high);
}

TEST_CASE("summarize_paired counts only changes beyond one evaluation sample", "[stats]") {
  // Evaluation on 200 samples: one sample is 0.005 of accuracy.
  std::vector<double> general = {0.80, 0.80, 0.80, 0.80, 0.80, 0.80};
  std::vector<double> method = {0.805, 0.795, 0.80, 0.85, 0.70, 0.8101};
  PairedOptions o;
  o.resolution = 1.0 / 200;
  auto s = summarize_paired(general, method, o);
  CHECK(s.n == 6);
  CHECK(s.improved == 2);  // +0.05 and +0.0101 (two samples); +0.005 is one sample: unchanged
  CHECK(s.worse == 1);     // -0.10; -0.005 is one sample: unchanged
  CHECK(s.unchanged == 3);
  CHECK(s.mean_a == Approx(0.80));
  CHECK(s.mean_diff == Approx((0.005 - 0.005 + 0 + 0.05 - 0.10 + 0.0101) / 6));
  CHECK(s.median_diff == Approx(0.0025));
  CHECK(s.ci.low <= s.mean_diff);
  CHECK(s.ci.high >= s.mean_diff);
  CHECK(s.wilcoxon.zeros == 1);
  // Without a resolution every non-zero change counts.
  auto raw = summarize_paired(general, method);
  CHECK(raw.improved == 3);
  CHECK(raw.worse == 2);
  // Mismatched or empty inputs give an empty summary.
  CHECK(summarize_paired({0.1}, {0.1, 0.2}).n == 0);
  CHECK(summarize_paired({}, {}).n == 0);
}

TEST_CASE("summarize_paired finds a consistent improvement significant", "[stats]") {
  std::vector<double> a, b;
  for (int i = 0; i < 30; ++i) {
    a.push_back(0.5 + 0.01 * (i % 10));
    b.push_back(a.back() + 0.02 + 0.001 * (i % 4));
  }
  auto s = summarize_paired(a, b);
  CHECK(s.improved == 30);
  CHECK(s.wilcoxon.p_value < 1e-6);
  CHECK(s.ci.low > 0.0);
}

TEST_CASE("bootstrap draws the documented index stream, one sample or several together",
          "[stats]") {
  // Intervals from scripts/pool_protocol.py's independent implementation of the same
  // stream (SplitMix64, rejection below n, in-order sums; docs/PROTOCOL.md), for
  // samples of two lengths: python3 -c "import pool_protocol as p;
  // print(p.bootstrap_mean_ci(a, resamples=500, confidence=0.9, seed=42))".
  std::vector<double> a, b, c;
  for (int i = 0; i < 40; ++i) a.push_back(((i * 7) % 13) / 13.0);
  for (int i = 0; i < 40; ++i) b.push_back(((i * 5) % 11) / 11.0 - 0.3);
  for (int i = 0; i < 9; ++i) c.push_back(((i * 3) % 7) / 7.0);
  const Interval reference[] = {{0.3730769230769231, 0.525},
                                {0.09318181818181819, 0.23863636363636367},
                                {0.23809523809523808, 0.5396825396825397}};
  BootstrapOptions o;
  o.resamples = 500;
  o.confidence = 0.9;
  o.seed = 42;
  // Together: a and b share one stream (same length), c has its own; empty and single
  // samples keep their own rules.
  auto together = bootstrap_mean_cis({a, {}, b, c, {0.25}}, o);
  REQUIRE(together.size() == 5);
  const Interval* expected[] = {&reference[0], nullptr, &reference[1], &reference[2], nullptr};
  for (size_t k : {0, 2, 3}) {
    INFO(k);
    CHECK(together[k].low == Approx(expected[k]->low).epsilon(1e-12));
    CHECK(together[k].high == Approx(expected[k]->high).epsilon(1e-12));
  }
  CHECK(together[1].low == 0.0);
  CHECK(together[1].high == 0.0);
  CHECK(together[4].low == 0.25);
  CHECK(together[4].high == 0.25);
  // One at a time: the same numbers, bit for bit.
  auto alone = bootstrap_mean_ci(b, o);
  CHECK(alone.low == together[2].low);
  CHECK(alone.high == together[2].high);
}
