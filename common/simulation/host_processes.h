// Child processes of `fp-sim run` (agent hosts in "processes" mode): spawned with
// their output in a log file, reaped with their own CPU time and peak memory.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/status.h"

namespace fp::sim {

struct ChildProcess {
  pid_t pid = -1;
  std::string name;
  bool exited = false;
  int exit_code = -1;  // 128 + signal when killed by one
  double cpu_seconds = 0;
  bool forked = false;  // by the host zygote (host_zygote.h), not executed
  // From wait4: on Linux this also counts the parent's memory at spawn time (vfork
  // shares it until exec), so prefer what the child reports itself (VmHWM).
  int64_t peak_rss_bytes = 0;
};

// Starts argv[0] with argv; stdout and stderr go to `log_path` (appended).
Result<ChildProcess> spawn_child(const std::vector<std::string>& argv, const std::string& name,
                                 const std::string& log_path);
// Collects the exit status, CPU time and peak RSS once the child has ended. With
// `block` false it returns false at once while the child still runs.
bool reap_child(ChildProcess& child, bool block);
void signal_child(const ChildProcess& child, int signal);
// How a reaped child ended, for messages: "exited with code 3", "was killed by signal 9
// (Killed)".
std::string how_it_ended(const ChildProcess& child);

// The running program's own path (/proc/self/exe), to start more of itself.
std::string self_executable();

}  // namespace fp::sim
