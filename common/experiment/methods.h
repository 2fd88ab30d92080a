// The personalization methods a task (TaskAssignment.baselines, a scenario's
// [baselines] methods, a campaign's baselines) may ask for besides Fine-Pruning, by
// the names their telemetry carries. Torch-free, for config readers.
//
//   finetune             tuned fine-tuning (Adam, learning-rate grid and early stopping on
//                        a labeled validation slice of the adaptation set)
//   finetune_plain       the earlier fixed recipe (SGD, fixed epochs, no validation)
//   svd                  SVD, rank per layer from the spectrum, at Fine-Pruning's parameters
//   svd_macs             the same at Fine-Pruning's MACs per sample
//   em_prior             class-prior re-estimation by EM (Saerens et al. 2002), label-free
//   adabn                BatchNorm statistics re-estimated (Li et al. 2016), label-free
//   tent                 entropy minimisation of BatchNorm affine (Wang et al. 2021)
//   fine_prune+X         Fine-Pruning, then X (X one of em_prior, adabn, tent)
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace fp {

// Fine-Pruning's name where telemetry, reports and results files name methods, and the
// general model's (its accuracy before any personalization) beside them.
inline constexpr char kFinePruneMethod[] = "fine_prune";
inline constexpr char kGeneralMethod[] = "general";

inline const std::vector<std::string>& known_methods() {
  static const std::vector<std::string> methods = {
      "finetune",         "finetune_plain", "svd",  "svd_macs",
      "em_prior",         "adabn",          "tent", "fine_prune+em_prior",
      "fine_prune+adabn", "fine_prune+tent"};
  return methods;
}

inline bool is_known_method(const std::string& name) {
  const auto& m = known_methods();
  return std::find(m.begin(), m.end(), name) != m.end();
}

// "finetune, finetune_plain, ..." for error messages.
inline std::string known_methods_text() {
  std::string out;
  for (const auto& m : known_methods()) out += (out.empty() ? "" : ", ") + m;
  return out;
}

}  // namespace fp
