#include "simulation/campaign_progress.h"

#include <fmt/format.h>

namespace fp::sim {

std::string progress_note(const ProgressState& s) {
  std::string out = fmt::format("{} running, {} failed", s.running, s.failed);
  if (s.live_agents >= 0) {
    out += fmt::format("; agents: {} connected, {} computing", s.live_agents, s.computing);
  }
  return out;
}

}  // namespace fp::sim
