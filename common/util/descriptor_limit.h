// Open files: a program holding a connection per agent (the coordinator; fp-sim's hosts and
// its coordinator) needs more than a shell's usual soft limit of 1,024, and the soft limit
// may be raised to the hard one by the process itself. fp-sim aborted ("Too many open files")
// under a soft limit the coordinator alone would have raised.
#pragma once

#include <cstdint>

namespace fp {

// Raises this process's soft limit on open files to its hard limit; returns the soft limit
// then in force (UINT64_MAX: unlimited; 0: it cannot be read).
uint64_t raise_descriptor_limit();

}  // namespace fp
