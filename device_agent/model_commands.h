// fp-agent's model subcommands, run on the device without a coordinator:
//   fp-agent personalize --model G --data DIR --out P   Fine-Prunes G on the folder's files
//   fp-agent info    --model M           what M is: form, size, cost, units kept per layer
//   fp-agent compact --model M --out C   removes M's pruned units; prints before/after
//   fp-agent export  --model M --out P   writes P.pt (torch.load) and P.json for PyTorch
// Each returns the program's exit status: 0 done, 1 failed, 2 a usage mistake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/folder_data_config.h"

namespace fp {
class PrunableNet;
}

namespace fp::agent_cli {

// What a model file costs on the device: its parameters, the MACs it executes per sample,
// its bytes. The before/after lines of compact and personalize.
struct Footprint {
  int64_t parameters = 0, macs = 0;
  uint64_t bytes = 0;
};
Footprint footprint(PrunableNet& model, uint64_t bytes);

struct PersonalizeOptions {
  std::string model_path;          // the general model
  std::string out_path;            // the personalized model written (compact where it can be)
  agent::FolderDataConfig folder;  // the device's files, read as a task reads them
  // "key=value" settings over PersonalizeConfig{}'s (experiment/personalize_settings.h):
  // the keys a campaign's [campaign.prune] takes. A value is JSON where it parses as JSON
  // (0.6, true), else a string.
  std::vector<std::string> settings;
};

// True, the error logged, when `out_path` names the file `model_path` does: the model
// written (`written`: "the compact model") would replace the one it is made from.
bool out_is_input(const std::string& model_path, const std::string& out_path,
                  const std::string& written);
// out_is_input, and true too, the error logged, when the model file written would replace
// work: an unpruned model (a general model, perhaps the device's only copy of it), a file
// that is no model it can read, a database or a key file. An earlier pruned or compact model
// (personalize's or compact's own output) is replaced.
bool out_model_refused(const std::string& model_path, const std::string& out_path,
                       const std::string& written);

int personalize_command(const PersonalizeOptions& options);
int info_command(const std::string& model_path);
int compact_command(const std::string& model_path, const std::string& out_path, int threads);
int export_command(const std::string& model_path, const std::string& out_prefix);

}  // namespace fp::agent_cli
