#include "util/openmp_policy.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

namespace fp {

void reexec_with_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  // The binary's own path, not /proc/self/exe: the process is named after the file it
  // executes, and ps, top and pkill should still see fp-sim, not "exe".
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return;
  path[n] = '\0';
  execv(path, argv);
  // Only reached when the exec failed: run on with the default policy, and say nothing
  // that would change the program's output.
}

}  // namespace fp
