// Wall-clock time as stored in the database and shown in reports, and durations.
#pragma once

#include <chrono>

namespace fp {

// Seconds since the Unix epoch (system clock), with sub-second resolution.
double unix_now();

// The calling thread's CPU time in seconds: with one LibTorch thread all of its compute,
// and unlike wall time not inflated when other processes share the cores.
double thread_cpu_seconds();

// Seconds elapsed since `start` on the monotonic clock: durations, never timestamps.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace fp
