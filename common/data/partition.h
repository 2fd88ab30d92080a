// Partitioners: turn a pool of samples into *individuals*, reproducibly from a seed.
// Each individual owns an unlabeled adaptation set and a labeled evaluation set that
// never overlap. Partitioners see only label and group vectors: no torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fp {

struct Individual {
  std::string name;                 // "group=jackson", "classes=3+7#0", "iid#4", ...
  std::vector<int64_t> classes;     // classes present in this individual's data
  std::vector<int64_t> adaptation;  // pool indices; Fine-Pruning never reads their labels
  std::vector<int64_t> evaluation;  // pool indices; labeled, used only to measure accuracy
};

enum class PartitionMethod {
  kNatural,    // one individual per group id (e.g. per speaker)
  kKClasses,   // each individual gets k classes (the paper's "2 of 1000 ImageNet classes")
  kDirichlet,  // class proportions drawn from Dirichlet(alpha)
  kIid,        // uniform random samples
};

// More individuals than this are refused: their index lists alone would fill memory before a
// run could start (a billion individuals grew by ~150 MB/s), and a campaign of a million
// virtual agents is already far past what one machine runs.
constexpr int64_t kMaxIndividuals = 1'000'000;

struct PartitionConfig {
  PartitionMethod method = PartitionMethod::kKClasses;
  int64_t num_individuals = 10;  // ignored by kNatural (one per group)
  int64_t k = 2;                 // classes per individual, kKClasses
  // kKClasses with several class counts: individual i gets k_values[i % size] classes
  // (the classes-per-individual experiment); empty: every individual gets k.
  std::vector<int64_t> k_values;
  double alpha = 0.5;                    // concentration, kDirichlet
  int64_t samples_per_individual = 400;  // adaptation + evaluation; 0 = all available (kNatural)
  double eval_fraction = 0.5;            // share of each individual's samples kept for evaluation
  bool disjoint = true;                  // individuals never share a pool sample
  // k_classes, dirichlet, iid: draw only samples of these classes (e.g. the classes the
  // general model classifies best, Figure 2d). Empty: every class in the pool.
  std::vector<int64_t> classes;
  uint64_t seed = 1;
};

const char* partition_method_name(PartitionMethod m);
Result<PartitionMethod> parse_partition_method(const std::string& name);

// `labels[i]` is sample i's class; `groups` may be empty unless method is kNatural.
// `group_names` (optional) names groups for kNatural individuals.
Result<std::vector<Individual>> partition(const std::vector<int64_t>& labels,
                                          const std::vector<int64_t>& groups,
                                          const PartitionConfig& config,
                                          const std::vector<std::string>& group_names = {});

}  // namespace fp
