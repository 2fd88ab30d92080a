// What a running campaign's progress line says besides "done of total": drawn by
// fp::Progress (util/progress.h), the one progress display of every program.
#pragma once

#include <cstdint>
#include <string>

namespace fp::sim {

struct ProgressState {
  int64_t total = 0, done = 0, failed = 0, running = 0;  // tasks, from SQLite
  int64_t live_agents = -1, computing = -1;              // -1: not known here

  int64_t finished() const { return done + failed; }
};

// "8 running, 5 failed" and, where known, "; agents: 16 connected, 2 computing".
std::string progress_note(const ProgressState& s);

}  // namespace fp::sim
