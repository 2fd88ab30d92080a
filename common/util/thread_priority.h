// A thread's scheduling priority (its nice value; Linux keeps one per thread). Background
// compute lowers its own so that the threads that answer — a coordinator's loop, its
// dashboard, the agents' sessions — run first when the cores are all busy.
#pragma once

#include "util/status.h"

namespace fp {

// The calling thread's nice value (-20 highest priority .. 19 lowest).
int thread_nice();

// Raises the calling thread's nice value by `increment` (>= 0), up to 19. Lowering a
// priority needs no privilege; an error names what the kernel refused.
Status lower_thread_priority(int increment);

}  // namespace fp
