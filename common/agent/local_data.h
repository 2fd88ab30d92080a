// Where the built-in data live: the coordinator's general training set and each
// device's private data, carved from one data set by the partition fp-sim uses
// (data/partition.h), so the same name and seed give the same samples in fp-agent and
// fp-sim. This file only maps settings and names onto that partition.
//
//   fsdd          partition "natural" (one individual per speaker) with seed
//                 `split_seed`; individual "speaker=<name>" (or fp-sim's "group=<name>").
//                 Each takes `samples` recordings (0: (1 - general_fraction) of the
//                 smallest speaker's); general: the recordings no individual took.
//   fashion-mnist general: the training split; private: the test split.
//                 With `individuals` > 0: partition "k_classes" (individuals, k,
//                 samples, split_seed) and fp-sim's names "classes=<a>+<b>#<i>".
//                 With individuals = 0: "classes=<a>+<b>[+...]" is every test sample
//                 of those classes (shuffled, `samples` of them, default 600; "#<i>":
//                 the i-th disjoint shard), a class set rather than a simulated person.
//
// An individual's samples are split again into an unlabeled adaptation part (what
// Fine-Pruning sees) and a labeled evaluation part (used only to measure accuracy).
// A real device with its own files uses agent/folder_data.h instead.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/partition.h"
#include "util/status.h"

namespace fp::agent {

struct LocalDataConfig {
  // "fsdd", "fashion-mnist", or "image-folder": one's own labeled pictures, a folder per
  // class (data/image_folder.h), general data only (its devices hold their own files).
  std::string dataset = "fsdd";
  std::string data_dir;  // empty: the data set's default location (an image folder has none)
  int64_t channels = 1, height = 28, width = 28;  // image-folder: the model input
  double general_fraction = 0.5;
  uint64_t split_seed = 1;
  double eval_fraction = 0.5;
  int64_t samples = 0;      // samples per individual (0: see above)
  int64_t individuals = 0;  // fashion-mnist: the k_classes partition's size (0: class sets)
  int64_t k = 2;            // fashion-mnist: classes per individual of that partition
};

struct IndividualData {
  Dataset adaptation;  // labels kept only for the fine-tuning baseline
  Dataset evaluation;
};

Result<Dataset> load_general_data(const LocalDataConfig& config, int64_t limit = 0);
Result<IndividualData> load_individual(const LocalDataConfig& config,
                                       const std::string& individual);

// Whether every one of `individuals` is one this data set holds (the pool read once): a
// device refuses to start with a name no task could load, instead of failing each task.
Status check_individuals(const LocalDataConfig& config,
                         const std::vector<std::string>& individuals);

// The pool indices of `individual` (adaptation, evaluation) in `pool` (the private pool
// load_individual reads: FSDD's every recording, Fashion-MNIST's test split).
Result<Individual> individual_indices(const Dataset& pool, const LocalDataConfig& config,
                                      const std::string& individual);

}  // namespace fp::agent
