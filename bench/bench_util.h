// Shared bits of the networking benchmarks: timing and resident-memory readings.
#pragma once

#include <chrono>
#include <fstream>
#include <string>

#include "util/clock.h"

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

}  // namespace fp::bench
