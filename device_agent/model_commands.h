// fp-agent's model subcommands, run on the device without a coordinator:
//   fp-agent compact --model M --out C   removes M's pruned units; prints before/after
//   fp-agent export  --model M --out P   writes P.pt (torch.load) and P.json for PyTorch
#pragma once

#include <string>

namespace fp::agent_cli {

int compact_command(const std::string& model_path, const std::string& out_path, int threads);
int export_command(const std::string& model_path, const std::string& out_prefix);

}  // namespace fp::agent_cli
