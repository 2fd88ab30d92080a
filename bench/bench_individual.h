// The benchmarks' individual: one partition individual of `samples` samples drawn from a
// pool with `seed`, split into its unlabeled adaptation and labeled evaluation data.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"
#include "data/partition.h"
#include "util/status.h"

namespace fp::bench {

struct BenchIndividual {
  std::string name;
  Dataset adaptation, evaluation;
};

// An error when the pool cannot give `samples` (partition's message names the shortfall).
inline Result<BenchIndividual> one_individual(const Dataset& pool, int64_t samples, uint64_t seed) {
  PartitionConfig pc;
  pc.num_individuals = 1;
  pc.samples_per_individual = samples;
  pc.seed = seed;
  auto individuals = partition(pool.label_vector(), {}, pc);
  if (!individuals.ok())
    return Status::invalid_argument("--samples " + std::to_string(samples) + ": " +
                                    individuals.status().message());
  const auto& ind = individuals->front();
  return BenchIndividual{ind.name, pool.select(ind.adaptation), pool.select(ind.evaluation)};
}

}  // namespace fp::bench
