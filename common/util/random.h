// Random 64-bit values for identifiers and seeds that must differ between runs
// (an agent's instance id, its backoff jitter). One process-wide generator, seeded once in
// each process (a forked one too): constructing a std::random_device per use queries the
// CPU (cpuid) each time, which a virtual machine may trap, and thousands of simulated agents
// start every minute.
#pragma once

#include <cstdint>

namespace fp {

uint64_t random_u64();  // thread-safe

}  // namespace fp
