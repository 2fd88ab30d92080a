// A "zygote" for `fp-sim run`'s agent hosts ("processes" hosting): a copy of fp-sim forked
// at the top of main(), with one thread, LibTorch loaded and nothing else done, which forks
// each host on request. A host so started skips what every start of the program costs:
// ~0.7 s of CPU on the 2-core machine of docs/BENCHMARKS.md, the dynamic loader's symbol
// lookups in LibTorch's ~290 libraries and LibTorch's operator registration, paid once
// per host process before (docs/SIMULATIONS.md, item 18). It then runs main()'s body with
// its own command line, as an executed host would, and shows that command line to `ps`; it
// ends without the static destructors (LibTorch's deregister every operator, which would
// copy the pages the host still shares with the zygote: ~0.27 s of CPU a host).
//
// The hosts stay children of the caller, which becomes their "subreaper": the zygote forks
// each one through a short-lived middle process, and the host waits until it has been
// handed to the caller before it starts. They are reaped, signalled and measured as
// executed ones are (host_processes.h). FP_SIM_EXEC_HOSTS=1 starts hosts by exec instead.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "simulation/host_processes.h"
#include "util/status.h"

namespace fp::sim {

// main()'s body: what a forked host runs with its command line.
using ProgramBody = int (*)(int argc, char** argv);

// Forks the zygote. Nothing happens (false) when FP_SIM_EXEC_HOSTS is set to anything but
// 0, when this process has more than one thread (a fork would copy one thread of several,
// with their locks), or when a system call fails. Call from main() before anything else
// that matters (nothing drawn from a random generator yet, nothing opened, no thread);
// once.
bool start_host_zygote(ProgramBody body);

// Whether a zygote started and has not been stopped.
bool host_zygote_running();

// Why no zygote runs, for a log line ("" while one does): FP_SIM_EXEC_HOSTS, threads at the
// start, a failed system call, it was stopped, or it was never started.
std::string host_zygote_note();

// Starts `argv` (this program's arguments; argv[0] names it) as a child of this process
// forked by the zygote, its output appended to `log_path`, as spawn_child() would execute it.
// Unavailable when no host was started (the caller may execute it instead); another error
// when the zygote was asked and did not answer (one may run that the caller does not know
// of: starting another would run its agents twice).
Result<ChildProcess> spawn_from_host_zygote(const std::vector<std::string>& argv,
                                            const std::string& name, const std::string& log_path);

// Ends the zygote and reaps it, with its CPU time (its forks) and peak memory; nullopt when
// none was running.
std::optional<ChildProcess> stop_host_zygote();

}  // namespace fp::sim
