// Which of a device's own files a task reads, and how they are split: the settings of
// agent/folder_data.h, without LibTorch (fp-agent's commands and configuration take them).
#pragma once

#include <cstdint>
#include <string>

namespace fp::agent {

struct FolderDataConfig {
  std::string dir;
  std::string labels_file;  // optional CSV "path,label" (path relative to dir; label an id or
                            // a class name of the spec)
  // Held out for the label-free figures and, where labeled, accuracy (fp-agent
  // --eval-fraction); not PersonalizeConfig::heldout_fraction, the selector's slice.
  double eval_fraction = 0.5;
  uint64_t seed = 1;
  int64_t max_samples = 4000;  // decoded at most (adaptation + held-out)
  // Usable files needed at least: Fine-Pruning's statistics of a handful of inputs describe
  // those files, not the individual.
  int64_t min_samples = 10;
};

}  // namespace fp::agent
