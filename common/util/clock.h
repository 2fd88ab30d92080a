// Wall-clock time as stored in the database and shown in reports, and durations.
#pragma once

#include <chrono>
#include <string>

namespace fp {

// Seconds since the Unix epoch (system clock), with sub-second resolution.
double unix_now();

// `unix_seconds` as "YYYY-MM-DD HH:MM:SS UTC" (UTC, so times read the same on every machine
// and across a daylight-saving change); "?" for a time that cannot be a date (not finite, or
// past what the calendar functions take: a damaged or edited database).
std::string utc_time_text(double unix_seconds);

// The calling thread's CPU time in seconds: with one LibTorch thread all of its compute,
// and unlike wall time not inflated when other processes share the cores.
double thread_cpu_seconds();

// Seconds elapsed since `start` on the monotonic clock: durations, never timestamps.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace fp
