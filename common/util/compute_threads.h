// The threads a computation uses, and whether several computations may share a process.
//
// LibTorch parallelizes its kernels with OpenMP, per calling thread; the BLAS its linear
// and convolution layers call runs inside those kernels, so the BLAS gets one thread (a
// threaded BLAS would multiply the two). Several computations at once in one process (the
// agents of an in-process simulation) also need a BLAS that may be called from several
// threads: Debian's single-threaded OpenBLAS (libopenblas0-serial) is built without
// locking (OpenBLAS's USE_LOCKING), shares its work buffers between callers, and then
// returns wrong products now and then. Seen here as fine-tuning accuracies that differed
// between two identical in-process runs (7 of 24 runs of a test) and never with the
// threaded build (libopenblas0-pthread) pinned to one thread or Debian's reference BLAS.
#pragma once

#include <cstdint>
#include <string>

#include "util/status.h"

namespace fp {

// The most LibTorch threads a setting may ask for (a scenario's, [train]'s, --threads): a
// typo of many digits started threads until the machine ran out.
inline constexpr int kMaxComputeThreads = 256;

// This thread computes with `torch_threads` OpenMP threads (LibTorch's thread count is
// per calling thread under OpenMP); the BLAS, process-wide, with one.
void set_compute_threads(int torch_threads);

struct BlasThreading {
  std::string library;  // the loaded libblas.so.3, resolved (util/machine.h)
  std::string config;   // OpenBLAS's build line (openblas_get_config); empty for other BLAS
  bool single_threaded_openblas = false;  // built without threads, hence without locking
  // Safe to call from several threads at once: true unless single_threaded_openblas.
  bool concurrent_calls_safe() const { return !single_threaded_openblas; }
};

// What this process loaded, read from the library itself.
BlasThreading blas_threading();

// OK when `computations` (how many compute at once in this process) is 1 or `blas` is
// safe for concurrent callers; otherwise an error that names the library, why its
// results would be wrong, and the fixes. `who` says what asked ("fp-sim host (2 workers)").
Status check_concurrent_blas(const BlasThreading& blas, int64_t computations,
                             const std::string& who);
// The same for the BLAS this process loaded.
Status check_concurrent_blas(int64_t computations, const std::string& who);

}  // namespace fp
