// LibTorch's OpenMP threads (libgomp) spin while they wait for work by default. On a
// machine whose cores other processes keep busy, that spinning steals the time the
// threads wait for: a general model trained with 2 threads beside another campaign took
// 85 s instead of 3.8 s with the passive policy, the same bytes (docs/BENCHMARKS.md).
// libgomp reads OMP_WAIT_POLICY once, as it loads, before main() runs; so a program that
// wants the passive policy by default executes itself again with it set.
//
// The second start costs a whole LibTorch start (0.6 s here: docs/BENCHMARKS.md, "The
// allocator"), so subcommands that never compute on several threads (a status query, an
// export) are left out.
#pragma once

#include <initializer_list>
#include <string_view>

namespace fp {

// When OMP_WAIT_POLICY is unset and should_reexec_for_passive_openmp(): sets it to
// PASSIVE (and OPENBLAS_NUM_THREADS to 1 unless set: OpenBLAS, read as it loads too, then
// starts no threads the program would not use) and re-executes this program
// (/proc/self/exe) with the same arguments; returns
// only if the variable was set already, the subcommand computes nothing, or the exec
// failed (the program then runs on with libgomp's default). A value the user set is
// kept. Call first thing in main(), before any thread starts.
void reexec_with_passive_openmp(char** argv,
                                std::initializer_list<std::string_view> no_compute = {});

// False only when the subcommand (the first argument after the program that does not
// start with '-') is one of `no_compute`. An option with a value before the subcommand
// (`--log-level debug status`) makes "debug" the first such argument: then true, as
// before this choice existed.
bool should_reexec_for_passive_openmp(char** argv,
                                      std::initializer_list<std::string_view> no_compute);

}  // namespace fp
