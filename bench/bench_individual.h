// The benchmarks' individual: one partition individual of `samples` samples drawn from a
// pool with `seed`, split into its unlabeled adaptation and labeled evaluation data.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"
#include "data/partition.h"

namespace fp::bench {

struct BenchIndividual {
  std::string name;
  Dataset adaptation, evaluation;
};

inline BenchIndividual one_individual(const Dataset& pool, int64_t samples, uint64_t seed) {
  PartitionConfig pc;
  pc.num_individuals = 1;
  pc.samples_per_individual = samples;
  pc.seed = seed;
  auto ind = partition(pool.label_vector(), {}, pc).value().front();
  return {ind.name, pool.select(ind.adaptation), pool.select(ind.evaluation)};
}

}  // namespace fp::bench
