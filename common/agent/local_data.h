// Where the data live: the coordinator's general training set and each device's
// private data, carved from one data set by the same deterministic rule.
//
//   fsdd          general: `general_fraction` of every speaker's recordings (chosen by
//                 `split_seed`); private: the rest. Individual "speaker=<name>".
//   fashion-mnist general: the training split; private: the test split.
//                 Individual "classes=<a>+<b>[+...]" (optionally "#<i>": the i-th
//                 disjoint shard of `samples` samples).
//
// An individual's samples are split again into an unlabeled adaptation part (what
// Fine-Pruning sees) and a labeled evaluation part (used only to measure accuracy).
// On a real device the private part is simply all the data on that device.
#pragma once

#include <string>

#include "data/dataset.h"
#include "util/status.h"

namespace fp::agent {

struct LocalDataConfig {
  std::string dataset = "fsdd";  // "fsdd" or "fashion-mnist"
  std::string data_dir;          // empty: the data set's default location
  double general_fraction = 0.5;
  uint64_t split_seed = 1;
  double eval_fraction = 0.5;
  int64_t samples = 0;  // most samples per individual (0: all; fashion-mnist: 600)
};

struct IndividualData {
  Dataset adaptation;  // labels kept only for the fine-tuning baseline
  Dataset evaluation;
};

Result<Dataset> load_general_data(const LocalDataConfig& config, int64_t limit = 0);
Result<IndividualData> load_individual(const LocalDataConfig& config,
                                       const std::string& individual);

}  // namespace fp::agent
