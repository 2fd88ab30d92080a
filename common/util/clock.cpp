#include "util/clock.h"

#include <chrono>

namespace fp {

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace fp
