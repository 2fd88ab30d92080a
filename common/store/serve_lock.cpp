#include "store/serve_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include "util/file_io.h"

namespace fp::store {
namespace {

std::string utc_now_text() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

}  // namespace

Result<ServeLock> ServeLock::acquire(const std::string& database, const std::string& holder) {
  if (database == ":memory:") return ServeLock();  // no file: nothing another process could open
  const std::string path = lock_path(database);
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::io_error("lock file " + path + " cannot be opened: " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error != EWOULDBLOCK)
      return Status::io_error("lock file " + path + " cannot be locked: " + std::strerror(error));
    auto who = read_file(path, "lock file");
    std::string text = who.ok() ? *who : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return Status::unavailable("database " + database + " is being served by another process (" +
                               (text.empty() ? "it has not said who" : text) +
                               "); stop it first, or serve another database (lock file " + path +
                               ")");
  }
  ServeLock lock(fd);
  const std::string line =
      holder + ", pid " + std::to_string(::getpid()) + ", since " + utc_now_text() + "\n";
  // Written in place (the lock is on this file): a reader sees the holder or nothing.
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) < 0)
    return Status::io_error("lock file " + path + " cannot be written: " + std::strerror(errno));
  return lock;
}

ServeLock::ServeLock(ServeLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

ServeLock& ServeLock::operator=(ServeLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

ServeLock::~ServeLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

}  // namespace fp::store
