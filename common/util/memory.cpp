#include "util/memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>

namespace fp {

namespace {

// The VmHWM line's value in bytes, or 0 when `status` has none.
uint64_t hwm_bytes(const char* status) {
  const char* line = std::strstr(status, "\nVmHWM:");
  return line ? std::strtoull(line + 7, nullptr, 10) * 1024 : 0;  // kB
}

}  // namespace

uint64_t peak_rss_bytes() {
  // /proc/self is resolved when opened: a child forked without exec (the fd is O_CLOEXEC)
  // would read its parent's, so it opens its own.
  static std::mutex mutex;
  static int fd = -1;
  static pid_t opened_by = 0;
  int status_fd = -1;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (fd < 0 || opened_by != ::getpid()) {
      if (fd >= 0) ::close(fd);  // the parent's, in a child (which has this thread alone)
      fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
      opened_by = ::getpid();
    }
    status_fd = fd;
  }
  if (status_fd >= 0) {
    char buffer[8192];
    const ssize_t n = ::pread(status_fd, buffer, sizeof buffer - 1, 0);
    if (n > 0) {
      buffer[n] = '\0';
      if (uint64_t bytes = hwm_bytes(buffer)) return bytes;
    }
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    try {
      return std::stoull(line.substr(13)) * 1024;  // kB
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

bool prefault_for_writing(void* data, size_t bytes) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(page - 1);
  if (end <= begin) return true;  // no whole page inside: nothing to do, on any kernel
#ifdef MADV_POPULATE_WRITE
  return ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0;
#else
  return false;
#endif
}

}  // namespace fp
