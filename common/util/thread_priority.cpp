#include "util/thread_priority.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace fp {
namespace {

// On Linux, PRIO_PROCESS with a thread id addresses that one thread.
id_t this_thread() { return static_cast<id_t>(::syscall(SYS_gettid)); }

}  // namespace

int thread_nice() {
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, this_thread());
  return errno == 0 ? nice : 0;
}

Status lower_thread_priority(int increment) {
  if (increment < 0)
    return Status::invalid_argument("lower_thread_priority: increment must be >= 0, got " +
                                    std::to_string(increment));
  if (increment == 0) return Status::ok_status();
  const int target = std::min(19, thread_nice() + increment);
  if (::setpriority(PRIO_PROCESS, this_thread(), target) != 0)
    return Status::io_error(std::string("setpriority(") + std::to_string(target) +
                            "): " + std::strerror(errno));
  return Status::ok_status();
}

}  // namespace fp
