// Which kind of shift an individual's unlabeled data show the general model, told on the
// device without labels (issue 16, item 6). A class-subset individual (two kinds of
// clothing) makes the general model's mean softmax over its data concentrate on a few
// classes: removing the others is a class-prior correction that helps. An individual whose
// inputs differ but who uses every class (a new speaker saying every digit) spreads it:
// removing the classes the shifted model under-predicts removes classes the individual
// uses, and re-estimating BatchNorm statistics on the new inputs is what helps.
#pragma once

#include <vector>

namespace fp {

// How many classes the usage (mean softmax per class over the data, summing to ~1)
// covers, as a share of all classes: exp(entropy) / classes, in [1 / classes, 1]. One
// class used alone gives 1 / classes; uniform use gives 1. No torch: plain numbers.
double class_spread(const std::vector<double>& usage);

enum class ShiftKind { kClassPrior, kInputs };
const char* shift_kind_name(ShiftKind kind);

// kInputs when the spread exceeds `threshold` (PruneConfig::class_spread_threshold).
ShiftKind detect_shift(double spread, double threshold);

}  // namespace fp
