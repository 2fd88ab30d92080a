#include "util/openmp_policy.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "util/program_main.h"

namespace fp {

bool should_reexec_for_passive_openmp(char** argv,
                                      std::initializer_list<std::string_view> no_compute) {
  const std::string_view subcommand = subcommand_of(argv);
  for (std::string_view quiet : no_compute)
    if (!subcommand.empty() && subcommand == quiet) return false;
  return true;
}

void reexec_with_passive_openmp(char** argv, std::initializer_list<std::string_view> no_compute) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (!should_reexec_for_passive_openmp(argv, no_compute)) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  // OpenBLAS runs with one thread here (util/compute_threads.h), but starts a thread per
  // core as it loads, which spins a while: told first, it starts none (~0.15 s of CPU a
  // start on 2 cores). A value the user set stands.
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
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
