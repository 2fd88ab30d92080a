#include "util/random.h"

#include <unistd.h>

#include <mutex>
#include <random>

namespace fp {
namespace {

std::mt19937_64 seeded() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device()};
  return std::mt19937_64(seed);
}

}  // namespace

uint64_t random_u64() {
  static std::mutex mutex;
  static std::mt19937_64 generator = seeded();
  static pid_t seeded_in = ::getpid();
  std::lock_guard<std::mutex> lock(mutex);
  // A process forked without exec (fp-sim's agent hosts: simulation/host_zygote.h) would
  // otherwise draw the same values as its siblings: the same instance ids and seeds.
  if (const pid_t pid = ::getpid(); pid != seeded_in) {
    generator = seeded();
    seeded_in = pid;
  }
  return generator();
}

}  // namespace fp
