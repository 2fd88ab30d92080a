// PyTorch interop: a model as files Python reads with plain torch, no fineprune code.
//
//   <prefix>.pt    the compact model's state dict (torch::pickle_save; torch.load reads it)
//   <prefix>.json  the architecture: spec (with widths), every layer's options, the
//                  channel spaces and the classifier's class map
//
// scripts/python/fineprune_ref.py rebuilds the network from the JSON and loads the state
// dict; its outputs equal the C++ model's (tests: torch_export_python).
#pragma once

#include <string>

#include "models/prunable_net.h"
#include "util/status.h"

namespace fp {

struct TorchExportInfo {
  std::string state_dict_path, spec_path;
  int64_t state_dict_bytes = 0;
  int64_t parameters = 0;
};

// Compacts `model` (a compact model is exported as it is) and writes both files.
Status export_torch(const PrunableNet& model, const std::string& prefix,
                    TorchExportInfo* info = nullptr);

// The JSON description alone (what <prefix>.json holds).
std::string torch_export_spec(const PrunableNet& compact_model);

}  // namespace fp
