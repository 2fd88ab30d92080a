// The personalized model a device keeps and uses (fp-agent predict). Nothing of it
// leaves the device: it lives in the agent's work folder, next to a small manifest
// with its SHA-256 and the general model it was personalized from.
//
//   <dir>/task<id>-<individual>.fpm    the model ("-2", "-3" ... added where that name
//   <dir>/task<id>-<individual>.json   its manifest      is taken: ids restart in another
//                                                        coordinator database); "kept": N,
//                                                        the order the folder kept it in
//   <dir>/latest.json                  the manifest of the newest one
#pragma once

#include <cstdint>
#include <string>

#include "models/prunable_net.h"
#include "util/status.h"

namespace fp::agent {

struct KeptModel {
  std::string path;            // the model file
  std::string sha256;          // of the model file
  std::string general_sha256;  // the general model it came from
  std::string individual;
  uint64_t task_id = 0;
  uint64_t bytes = 0;  // file size
  std::string form;    // "masked" (pruned units zeroed) or "compact" (removed)
};

// What is stored for a personalized model: the compact one (models/compact.h, pruned
// units physically removed, same outputs), or the masked one should compaction fail
// (logged). `form` says which: "compact" or "masked".
ModelPtr model_to_keep(const PrunableNet& personalized, std::string* form);

// Writes the model and its manifests; returns what was kept.
Result<KeptModel> keep_model(const PrunableNet& personalized, const std::string& dir,
                             const std::string& general_sha256, const std::string& individual,
                             uint64_t task_id);

// Removes all but the `keep` newest personalized models of `dir` (newest by the order they
// were kept in, the manifests' "kept" number, not by file times, which a device's clock
// stepping back reorders; the one latest.json names is always kept), each with its manifest,
// so that a device's work folder does not grow with every task; 0 keeps all. Files it does
// not recognise are left alone. Returns how many models it removed.
Result<int> remove_older_kept_models(const std::string& dir, size_t keep);

// The newest kept model of `dir` (its latest.json), checked against its SHA-256.
Result<KeptModel> latest_kept_model(const std::string& dir);

}  // namespace fp::agent
