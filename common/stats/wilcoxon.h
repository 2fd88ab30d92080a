// Wilcoxon signed-rank test of paired differences (two-sided).
//
// Zero differences are dropped (Wilcoxon's treatment) or ranked and then dropped
// (Pratt's). Tied |differences| (equal within a relative tolerance) get mid-ranks. Up to
// `exact_max_n` non-zero differences the p-value is exact: the null distribution of W+ (every sign
// equally likely) is enumerated by dynamic programming over doubled mid-ranks, which stays exact
// with ties. Above it, the normal approximation with the tie correction of the variance (sum of t^3
// - t over tie groups, / 48), Pratt's zero correction of mean and variance, and an optional
// continuity correction of 0.5.
#pragma once

#include <cstdint>
#include <vector>

namespace fp::stats {

enum class ZeroMethod { kWilcox, kPratt };

struct WilcoxonOptions {
  ZeroMethod zeros = ZeroMethod::kWilcox;
  int64_t exact_max_n = 50;
  bool continuity = true;         // normal approximation only
  double zero_tolerance = 1e-12;  // |d| at or below this is a zero difference
  // |d|s within this share of each other tie. Accuracy differences are multiples of one
  // evaluation sample's worth, but a difference of doubles is not exact: one sample of 60
  // came out as both 0.016666666666666607 and 0.01666666666666672, ranked apart, and the
  // p-value moved (across 0.05 in one pooled comparison).
  double tie_tolerance = 1e-9;
};

struct WilcoxonResult {
  int64_t n = 0;       // differences given
  int64_t zeros = 0;   // of them, zero
  double w_plus = 0;   // sum of ranks of positive differences
  double w_minus = 0;  // sum of ranks of negative differences
  double z = 0;        // normal approximation's statistic (0 when exact)
  double p_value = 1;  // two-sided; 1 when every difference is zero
  bool exact = false;
};

WilcoxonResult wilcoxon_signed_rank(const std::vector<double>& differences,
                                    const WilcoxonOptions& options = {});

}  // namespace fp::stats
