#include "util/compute_threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include "util/machine.h"

namespace fp {
namespace {

// OpenBLAS's own entry points, looked up at run time: any libblas.so.3 may be loaded, and
// only OpenBLAS has them.
template <typename Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

void set_compute_threads(int torch_threads) {
  // A simulation host's compute threads call this for every task: setting the count again
  // cost ~40 us a task (LibTorch's thread pools, OpenBLAS's), for nothing.
  thread_local int set_here = 0;
  if (set_here == torch_threads) return;
  at::set_num_threads(torch_threads);
  if (auto set = openblas_symbol<void (*)(int)>("openblas_set_num_threads")) set(1);
  set_here = torch_threads;
}

BlasThreading blas_threading() {
  BlasThreading b;
  b.library = loaded_blas();
  if (auto config = openblas_symbol<char* (*)()>("openblas_get_config")) b.config = config();
  // openblas_get_parallel: 0 = built without threads, 1 = pthreads, 2 = OpenMP.
  if (auto parallel = openblas_symbol<int (*)()>("openblas_get_parallel")) {
    b.single_threaded_openblas = parallel() == 0;
  }
  return b;
}

Status check_concurrent_blas(int64_t computations, const std::string& who) {
  return check_concurrent_blas(blas_threading(), computations, who);
}

Status check_concurrent_blas(const BlasThreading& b, int64_t computations, const std::string& who) {
  if (computations <= 1 || b.concurrent_calls_safe()) return Status::ok_status();
  return Status::invalid_argument(
      who + " would compute " + std::to_string(computations) +
      " agents at once in one process, but the BLAS loaded (" +
      (b.library.empty() ? std::string("libblas.so.3") : b.library) + ", " + b.config +
      ") is OpenBLAS built single-threaded, without locking: concurrent calls share its "
      "buffers and return wrong products now and then. Install libopenblas0-pthread "
      "(scripts/setup does; fineprune runs it with one thread), or pick another BLAS with "
      "'update-alternatives --config libblas.so.3-x86_64-linux-gnu', or compute one agent at "
      "a time (--workers 1, one in-process host)");
}

}  // namespace fp
