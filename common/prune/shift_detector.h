// Which kind of shift an individual's unlabeled data show the general model, told on the
// device without labels (issue 16, item 6). A class-subset individual (two kinds of
// clothing) makes the general model's mean softmax over its data concentrate on a few
// classes: removing the others is a class-prior correction that helps. An individual whose
// inputs differ but who uses every class (a new speaker saying every digit) spreads it:
// removing the classes the shifted model under-predicts removes classes the individual
// uses, and re-estimating BatchNorm statistics on the new inputs is what helps.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "prune/prune_config.h"
#include "util/status.h"

namespace fp {

// How many classes the usage (mean softmax per class over the data, summing to ~1)
// covers, as a share of all classes: exp(entropy) / classes, in [1 / classes, 1]. One
// class used alone gives 1 / classes; uniform use gives 1. No torch: plain numbers.
double class_spread(const std::vector<double>& usage);

enum class ShiftKind { kClassPrior, kInputs };
const char* shift_kind_name(ShiftKind kind);

// kInputs when the spread exceeds `threshold` (PruneConfig::class_spread_threshold).
ShiftKind detect_shift(double spread, double threshold);

// A per-model threshold. One number cannot serve every model: a less certain model
// spreads its softmax over more classes on the same two-class data (MobileNetV2's
// 2-class individuals reach spreads a speaker shows). So the coordinator measures, before
// shipping, the model's own *spread curve*: curve[k - 1] is the median spread of its mean
// softmax over labeled general data drawn from k random classes
// (train/spread_calibration.h), and ships it in the model's metadata. The device then
// calls a shift one of the inputs when its data spread the softmax more than data of
// `class_share` x classes of the general domain would: the curve read at that many
// classes, interpolated between whole counts (below one class: the one-class value).
double calibrated_spread_threshold(const std::vector<double>& curve, double class_share);

// The metadata key of the curve (a JSON array of numbers) in a model artifact.
constexpr const char* kSpreadCurveMetaKey = "class_spread_curve";
std::string spread_curve_to_meta(const std::vector<double>& curve);
// The curve in `meta`; an error naming what is missing or malformed.
Result<std::vector<double>> spread_curve_from_meta(const std::map<std::string, std::string>& meta);

// Sets prune.class_spread_threshold from the model's curve (its artifact metadata) as
// prune.class_spread_share asks (prune_config.h): with a share > 0, an error when the model
// carries no curve; automatic, the default share where it carries one and no fixed
// threshold is set, else nothing; 0, nothing. A malformed curve is always an error. Both
// runners call it once they have loaded the model.
Status resolve_spread_threshold(const std::map<std::string, std::string>& model_meta,
                                PruneConfig& prune);

}  // namespace fp
