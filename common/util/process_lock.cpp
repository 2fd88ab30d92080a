#include "util/process_lock.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include "util/clock.h"
#include "util/file_io.h"

namespace fp {
namespace {

// A write lock on the whole file, owned by its open file description (an "OFD" lock): like
// flock, it goes when that descriptor closes and two opens in one process conflict; unlike
// flock, whether it is held can be asked (F_OFD_GETLK) without taking anything.
struct flock whole_file(short type) {
  struct flock range {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = 0;
  range.l_len = 0;  // to the end, however long the file grows
  return range;
}

// The holder line acquire() wrote, without its line end ("" when none can be read).
std::string recorded_holder(const std::string& lock_file) {
  auto who = read_file(lock_file, "lock file");
  std::string text = who.ok() ? *who : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

Result<ProcessLock> ProcessLock::acquire(const std::string& lock_file, const std::string& resource,
                                         const std::string& holder) {
  const auto parent = std::filesystem::path(lock_file).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::io_error("lock file " + lock_file +
                            " cannot be opened: " + std::strerror(errno));
  struct flock range = whole_file(F_WRLCK);
  if (::fcntl(fd, F_OFD_SETLK, &range) != 0) {
    const int error = errno;
    ::close(fd);
    if (error != EAGAIN && error != EACCES) {
      // A file system without locks (some network and FUSE mounts) does not stop the work,
      // it only loses the guard.
      spdlog::warn(
          "lock file {} cannot be locked ({}): nothing stops a second process from "
          "using {} at the same time",
          lock_file, std::strerror(error), resource);
      return ProcessLock();
    }
    const std::string text = recorded_holder(lock_file);
    return Status::unavailable(resource + " is in use by another process (" +
                               (text.empty() ? "it has not said who" : text) +
                               "); stop that one first (lock file " + lock_file + ")");
  }
  ProcessLock lock(fd);
  const std::string line = holder + ", pid " + std::to_string(::getpid()) + ", since " +
                           utc_time_text(unix_now()) + "\n";
  // Written in place (the lock is on this file): a reader sees the holder or nothing.
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) < 0)
    return Status::io_error("lock file " + lock_file +
                            " cannot be written: " + std::strerror(errno));
  return lock;
}

std::optional<bool> ProcessLock::held_by_another(const std::string& lock_file) {
  const int fd = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? std::optional<bool>(false) : std::nullopt;
  // Asked, not taken: a lock taken here even for an instant would refuse a holder starting
  // in that instant.
  struct flock range = whole_file(F_WRLCK);
  std::optional<bool> held;
  if (::fcntl(fd, F_OFD_GETLK, &range) == 0) held = range.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

std::optional<std::string> ProcessLock::holder(const std::string& lock_file) {
  if (held_by_another(lock_file) != std::optional<bool>(true)) return std::nullopt;
  return recorded_holder(lock_file);
}

ProcessLock::ProcessLock(ProcessLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

ProcessLock& ProcessLock::operator=(ProcessLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

ProcessLock::~ProcessLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

}  // namespace fp
