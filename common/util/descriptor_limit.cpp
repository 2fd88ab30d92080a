#include "util/descriptor_limit.h"

#include <sys/resource.h>

#include <limits>

namespace fp {

uint64_t raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max()
                                       : static_cast<uint64_t>(lim.rlim_cur);
}

}  // namespace fp
