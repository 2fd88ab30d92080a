// LibTorch's OpenMP threads (libgomp) spin while they wait for work by default. On a
// machine whose cores other processes keep busy, that spinning steals the time the
// threads wait for: a general model trained with 2 threads beside another campaign took
// 85 s instead of 3.8 s with the passive policy, the same bytes (docs/BENCHMARKS.md).
// libgomp reads OMP_WAIT_POLICY once, as it loads, before main() runs; so a program that
// wants the passive policy by default executes itself again with it set.
#pragma once

namespace fp {

// When OMP_WAIT_POLICY is unset: sets it to PASSIVE and re-executes this program
// (/proc/self/exe) with the same arguments; returns only if the variable was set already
// or the exec failed (the program then runs on with libgomp's default). A value the
// user set is kept. Call first thing in main(), before any thread starts.
void reexec_with_passive_openmp(char** argv);

}  // namespace fp
