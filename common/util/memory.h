// The process's own peak memory, as reported in telemetry and benchmarks.
#pragma once

#include <cstdint>

namespace fp {

// Peak resident set size of this process in bytes. Reads VmHWM from /proc/self/status,
// which belongs to this process's own address space (getrusage's ru_maxrss would also
// count the parent's pages of a process started with vfork+exec); falls back to
// getrusage where /proc is missing.
uint64_t peak_rss_bytes();

}  // namespace fp
