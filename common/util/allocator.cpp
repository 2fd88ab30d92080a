#include "util/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace fp {

bool tune_allocator() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return false;
  // Setting either threshold also ends glibc's dynamic mmap threshold, which otherwise
  // follows the largest block freed so far and lets the first batches be mmapped.
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, kMallocTrimThreshold) == 1;
  return mmap_set && trim_set;
}

}  // namespace fp
