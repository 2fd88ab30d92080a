#include "util/wake_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace fp {

WakeFd::WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

WakeFd::~WakeFd() { ::close(fd_); }

void WakeFd::notify() {
  const uint64_t one = 1;
  // Fails only when the counter is saturated, and then the descriptor is readable anyway.
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
}

void WakeFd::drain() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(fd_, &count, sizeof count);  // EAGAIN when not notified
}

}  // namespace fp
