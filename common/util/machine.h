// What a run's floating-point results depend on beyond the code and its inputs: the CPU,
// the instruction set LibTorch's kernels chose on it, and the BLAS library its linear
// layers call (Debian picks it through the libblas.so.3 alternative). The same campaign reruns bit
// for bit on one machine, not across machines (docs/RESULTS.md, "Which machine").
#pragma once

#include <string>

namespace fp {

// E.g. "AMD EPYC, 2 cores, LibTorch CPU capability AVX2, BLAS
// /usr/lib/x86_64-linux-gnu/openblas-serial/libblas.so.3"; parts that cannot be read are
// left out ("unknown CPU" when /proc/cpuinfo names none).
std::string machine_description();

// The real path of the BLAS library loaded in this process (the libblas.so.3 alternative
// resolved); empty if none is loaded.
std::string loaded_blas();

}  // namespace fp
