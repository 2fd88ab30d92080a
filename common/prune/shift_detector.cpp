#include "prune/shift_detector.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace fp {

double class_spread(const std::vector<double>& usage) {
  double total = 0;
  for (double u : usage) total += std::max(u, 0.0);
  if (usage.empty() || !(total > 0)) return 1.0;  // nothing recorded: no evidence of a subset
  double entropy = 0;
  for (double u : usage) {
    const double p = std::max(u, 0.0) / total;
    if (p > 0) entropy -= p * std::log(p);  // 0 log 0 = 0: unpredicted classes add nothing
  }
  return std::exp(entropy) / static_cast<double>(usage.size());
}

const char* shift_kind_name(ShiftKind kind) {
  return kind == ShiftKind::kInputs ? "inputs" : "class-prior";
}

ShiftKind detect_shift(double spread, double threshold) {
  return spread > threshold ? ShiftKind::kInputs : ShiftKind::kClassPrior;
}

double calibrated_spread_threshold(const std::vector<double>& curve, double class_share) {
  if (curve.empty()) return 1.0;
  const double k = class_share * static_cast<double>(curve.size());
  if (k <= 1) return curve.front();
  const size_t lo = static_cast<size_t>(std::floor(k));
  if (lo >= curve.size()) return curve.back();
  const double w = k - static_cast<double>(lo);
  return (1 - w) * curve[lo - 1] + w * curve[lo];
}

std::string spread_curve_to_meta(const std::vector<double>& curve) {
  nlohmann::json j = nlohmann::json::array();
  for (double v : curve) j.push_back(std::round(v * 1e4) / 1e4);
  return j.dump();
}

Result<std::vector<double>> spread_curve_from_meta(const std::map<std::string, std::string>& meta) {
  auto it = meta.find(kSpreadCurveMetaKey);
  if (it == meta.end()) {
    return Status::not_found(
        std::string("the model carries no ") + kSpreadCurveMetaKey +
        " in its metadata: class_spread_share needs a model the coordinator calibrated "
        "(fp-sim run does when a variant sets it); set class_spread_threshold instead");
  }
  const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  std::vector<double> curve;
  if (j.is_array()) {
    for (const auto& v : j) {
      if (!v.is_number()) break;
      curve.push_back(v.get<double>());
    }
  }
  if (!j.is_array() || curve.size() != j.size() || curve.size() < 2) {
    return Status::invalid_argument(
        std::string("model metadata ") + kSpreadCurveMetaKey +
        " is not an array of at least two numbers: " + it->second.substr(0, 80));
  }
  return curve;
}

Status resolve_spread_threshold(const std::map<std::string, std::string>& model_meta,
                                PruneConfig& prune) {
  double share = prune.class_spread_share;
  if (share == PruneConfig::kAutoClassSpreadShare) {
    // Automatic: a fixed threshold, or a model nobody calibrated, leaves things as they are.
    if (prune.class_spread_threshold > 0 || !model_meta.count(kSpreadCurveMetaKey)) {
      return Status::ok_status();
    }
    share = PruneConfig::kDefaultClassSpreadShare;
  }
  if (!(share > 0)) return Status::ok_status();
  FP_ASSIGN_OR_RETURN(std::vector<double> curve, spread_curve_from_meta(model_meta));
  // Strictly inside (0, 1): a threshold of 0 would switch the detector off.
  prune.class_spread_threshold =
      std::clamp(calibrated_spread_threshold(curve, share), 1e-6, 1 - 1e-6);
  return Status::ok_status();
}

}  // namespace fp
