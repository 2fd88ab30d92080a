// Shared bits of the networking benchmarks: timing and resident-memory readings.
#pragma once

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>

#include "util/clock.h"
#include "util/status.h"

namespace fp::bench {

using fp::seconds_since;  // util/clock.h

// A "VmHWM" / "VmRSS" line of /proc/<pid>/status, in bytes (0 if unreadable).
inline uint64_t proc_memory(const std::string& pid, const std::string& field) {
  std::ifstream in("/proc/" + pid + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

// Stops the benchmark when `s` is an error, naming `what` and the error (fp-bench prints it
// on one line and exits 1: util/program_main.h).
inline void require_ok(const Status& s, const std::string& what) {
  if (!s.ok()) throw std::runtime_error(what + ": " + s.to_string());
}

}  // namespace fp::bench
