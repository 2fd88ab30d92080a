// Fine-Pruning configuration: what to rank by, what to remove, how far.
// Plain data with no torch, so it can travel in task assignments and configs.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

enum class Criterion {
  kEnergy,      // mean squared post-activation output (the paper's activation energy)
  kMean,        // mean post-activation output
  kFiringRate,  // fraction of positive outputs
  kActivationWeightedMagnitude,  // |w| * sqrt(E_in): weight granularity only
};

enum class Granularity { kUnit, kWeight };
enum class Scope { kPerLayer, kGlobal };
enum class Schedule { kOneShot, kIterative };

struct PruneConfig {
  Criterion criterion = Criterion::kEnergy;
  Granularity granularity = Granularity::kUnit;
  // Global ranking (scores normalised per layer) is the default: with the label-free
  // choice it gained more and pruned more than per-layer ranking (docs/RESULTS.md).
  Scope scope = Scope::kGlobal;
  Schedule schedule = Schedule::kOneShot;
  // Fraction of prunable-layer weights to zero (units are chosen to reach it).
  double target_sparsity = 0.5;
  int iterative_steps = 4;  // kIterative: re-record statistics between steps
  bool prune_output_layer = true;
  // > 0: the output layer is pruned by usage instead of by rate: every class whose mean
  // softmax probability on the individual's data is below this is removed, and the
  // target sparsity is then met by the other layers. 0: the output layer is ranked
  // like any other layer (the paper's plain procedure). The default, 0.05, is the
  // measured best label-free variant (docs/BENCHMARKS.md, docs/RESULTS.md).
  double output_usage_threshold = 0.05;
  std::vector<std::string> protected_layers;  // names never pruned
  int64_t min_units_per_layer = 1;            // no layer is ever emptied
  int64_t batch_size = 128;                   // recording batch size
  // Ablations and label-free, backprop-free compensations (issue 16):
  // false: only the output layer is pruned (the "output-only" ablation; the
  // "hidden-only" one is prune_output_layer = false).
  bool prune_hidden = true;
  // Fold each pruned unit's recorded mean activation into the layer that reads it
  // (its bias, or its BatchNorm running mean), so the next layer's mean input is kept.
  bool compensate_bias = false;
  // Re-estimate BatchNorm statistics on the individual's unlabeled data after pruning.
  bool reestimate_batch_norm = false;
  // > 0: the device tells the kind of shift from its unlabeled data before pruning
  // (prune/shift_detector.h). When the general model's mean softmax over the data covers
  // more than this share of the classes (class_spread), the inputs are shifted rather
  // than the classes: no class is removed (the output layer is left whole) and BatchNorm
  // statistics are re-estimated. 0: off, classes are pruned as configured.
  double class_spread_threshold = 0;
  // The same detector with a threshold per model, read from the general model's spread
  // curve at this share of its classes (shift_detector.h: calibrated_spread_threshold);
  // the runner sets class_spread_threshold from it once the model is loaded.
  //   > 0: that share, overriding any fixed threshold; a model without a curve is an error.
  //   kAutoClassSpreadShare (the default): kDefaultClassSpreadShare where the model carries
  //        a curve and no fixed threshold is set; otherwise the detector stays off.
  //   0:   off.
  // The default was chosen on development data and adopted by a rule fixed before the
  // test runs (docs/PROTOCOL.md, amendment of 1 Dec 04:54; docs/RESULTS.md section 4c).
  static constexpr double kAutoClassSpreadShare = -1;
  static constexpr double kDefaultClassSpreadShare = 0.34;
  double class_spread_share = kAutoClassSpreadShare;
  // > 0: when the detector calls a shift one of the inputs on a BatchNorm network, the
  // device first re-estimates the statistics on a copy and compares the copy's predictions
  // on the same unlabeled inputs with the general model's (experiment/reestimation_check.h).
  // When the copy's mean top-class probability falls below this share of the general
  // model's, the verdict is overturned and the individual is pruned as a class-prior shift.
  // 0: no check.
  double reestimation_min_confidence_ratio = 0;

  Status validate() const;
  std::string to_json() const;
  static Result<PruneConfig> from_json(const std::string& json);
};

const char* criterion_name(Criterion c);
const char* granularity_name(Granularity g);
const char* scope_name(Scope s);
const char* schedule_name(Schedule s);
Result<Criterion> parse_criterion(const std::string& s);
Result<Granularity> parse_granularity(const std::string& s);
Result<Scope> parse_scope(const std::string& s);
Result<Schedule> parse_schedule(const std::string& s);

}  // namespace fp
