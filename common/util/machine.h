// What a run's floating-point results depend on beyond the code and its inputs: the CPU
// and the instruction set LibTorch's kernels chose on it. The same campaign reruns bit for
// bit on one machine, not across machines (docs/RESULTS.md, "Which machine").
#pragma once

#include <string>

namespace fp {

// E.g. "AMD EPYC, 2 cores, LibTorch CPU capability AVX2"; parts that cannot be read are
// left out ("unknown CPU" when /proc/cpuinfo names none).
std::string machine_description();

}  // namespace fp
