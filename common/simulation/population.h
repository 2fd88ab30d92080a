// The individuals of a scenario and where their data come from. The coordinator side
// and every agent host compute it alike from the scenario (the seed makes it so), so
// a host on another machine needs only the scenario file and the public data set.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/partition.h"
#include "simulation/scenario.h"
#include "util/status.h"

namespace fp::sim {

struct Population {
  std::string dataset;                  // the campaign's data set name
  Dataset pool;                         // where individuals' samples come from
  std::vector<Individual> individuals;  // in partition() order; index = agent number
};

// Where the scenario's Fashion-MNIST files are: data.dir, or the Debian package's folder.
std::string fashion_mnist_dir(const Scenario& scenario);

// Loads the pool (Fashion-MNIST: the test split; FSDD: every recording; an image folder:
// every picture) and partitions it. A scenario with best_classes needs its pick
// (partition.classes) first.
Result<Population> load_population(const Scenario& scenario);

// What the general model trains on. Fashion-MNIST: the first data.general_samples
// training images. FSDD and image folders: the samples no individual owns (FSDD: without
// any recording of `left_out`'s speaker when it is >= 0, leave-one-speaker-out).
Result<Dataset> general_training_data(const Scenario& scenario, const Population& population,
                                      int64_t left_out = -1);

// What the general model is scored on after training: samples it never trained on.
// Fashion-MNIST: the whole test split (the pool). FSDD and image folders: every
// individual's samples.
Dataset general_heldout_data(const Scenario& scenario, const Population& population);

// One individual's private data: the adaptation set (Fine-Pruning reads only its
// inputs; the fine-tuning baseline its labels too) and the labeled evaluation set.
struct PrivateData {
  Dataset adaptation;
  Dataset evaluation;
};
PrivateData private_data(const Population& population, size_t individual);

// Saved into a file only that individual's agent reads (a raw tensor format of its own,
// population.cpp: torch::save's archive costs more than the data).
Status save_private_data(const PrivateData& data, const std::string& path);
Result<PrivateData> load_private_data(const std::string& path);

// "<scenario>-a<index>", zero-padded so ids sort like agent numbers.
std::string agent_id(const Scenario& scenario, size_t individual);
// "<dataset>/<individual name>": what the agent announces it holds.
std::string holding(const Population& population, size_t individual);

}  // namespace fp::sim
