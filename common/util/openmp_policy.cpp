#include "util/openmp_policy.h"

#include <unistd.h>

#include <cstdlib>

namespace fp {

void reexec_with_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Only reached when the exec failed: run on with the default policy, and say nothing
  // that would change the program's output.
}

}  // namespace fp
