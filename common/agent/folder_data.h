// A real device's private data: the files in a folder (data/folder_source.h), turned
// into the model's input as its spec says, with no labels needed.
//
// The usable files are shuffled by `seed`; at most `max_samples` of them are decoded
// (memory stays bounded however large the folder), and `eval_fraction` of those
// form the held-out slice: the label-free figures (confidence, agreement with the
// general model) are measured there, and, when a labels file names some of its files,
// the accuracy too. The rest is the unlabeled adaptation set Fine-Pruning records.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "agent/folder_data_config.h"
#include "data/dataset.h"
#include "data/folder_source.h"
#include "models/model_spec.h"
#include "util/status.h"

namespace fp::agent {

struct FolderData {
  Dataset adaptation;  // inputs only
  Dataset heldout;     // labels when the labels file named held-out files
  // Every held-out file's input, labeled or not: what the label-free figures are measured
  // on. `heldout` narrows to the labeled ones when a labels file names only some.
  torch::Tensor heldout_inputs;
  int64_t files = 0;      // usable-looking entries listed (IDX images counted one by one)
  SkipLog skipped;        // listing and decoding
  std::string signature;  // the listing's (FolderListing::signature) and the labels file's
  // Of the usable files, those that tell Fine-Pruning less than their count says, warned
  // about in the device's log: one decoding to the very input of another (a copy: its
  // statistics weigh that input twice), and one decoding to a constant input (a black or
  // white picture, silence).
  int64_t repeated_inputs = 0, constant_inputs = 0;
};

// FolderData::signature of the folder and labels file as they are now, without decoding:
// a device compares it with its decoded data's to see whether the files changed.
Result<std::string> folder_data_signature(const FolderDataConfig& config);

// Fails when the folder is missing or no file in it is usable by this model. The error
// names no file or folder, since it leaves the device as the task's failure reason: it
// counts the skipped files by reason, and the device's log names them.
Result<FolderData> load_folder_data(const FolderDataConfig& config, const ModelSpec& spec);

// At a device's start, before any model is known: the folder exists and holds at least one
// file of a type fineprune reads; otherwise the error load_folder_data would give each task.
// With a built-in `dataset` (its campaigns' models take recordings or pictures), at least
// one file must be of that kind: a folder of pictures on an "fsdd" device would fail every
// task it is given.
Status check_data_folder(const std::string& dir, const std::string& dataset = "");

// What `fp-agent --check` finds inside the files: up to `sample` of the folder's files of the
// kind `dataset`'s models take (every file's kind without one), spread evenly over the
// listing, decoded through the data set's own input front end. A folder whose sampled files
// all fail to decode would fail every task.
struct FolderProbe {
  int64_t files = 0;    // usable-looking files listed (IDX images one by one)
  int64_t sampled = 0;  // of those, decoded here
  int64_t decoded = 0;
  SkipLog skipped;  // the sampled files that failed, with their paths (said on the device)
};
Result<FolderProbe> probe_data_folder(const std::string& dir, const std::string& dataset,
                                      int64_t sample = 20);

// "path,label" lines (an optional header "path,label" is skipped); labels are class ids
// or names from `spec.class_names`. Errors name the file and line.
Result<std::map<std::string, int64_t>> read_labels_csv(const std::string& path,
                                                       const ModelSpec& spec);

}  // namespace fp::agent
