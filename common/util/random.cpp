#include "util/random.h"

#include <mutex>
#include <random>

namespace fp {

uint64_t random_u64() {
  static std::mutex mutex;
  static std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  std::lock_guard<std::mutex> lock(mutex);
  return generator();
}

}  // namespace fp
