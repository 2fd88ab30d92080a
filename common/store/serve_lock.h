// One process serves a database at a time. A second coordinator on the same file would take
// the first's live assignments for ones a stopped coordinator left (and requeue them), then
// hand the same tasks to other agents; a second `fp-sim run` into one folder would write its
// run over the first's. So `fp-coordinator serve` and `fp-sim run` hold an advisory lock
// (flock) on "<database>.lock" while they serve; the file says who holds it. The kernel
// drops the lock when its process ends, however it ends (SIGKILL included), so a file left
// behind never blocks the next start.
#pragma once

#include <string>

#include "util/status.h"

namespace fp::store {

class ServeLock {
 public:
  // Takes the lock of `database` (its folder is created if missing), recording `holder`
  // (who serves: a program and what it serves on) with this process's id and the time.
  // Unavailable, naming the database and the holder, when another process holds it. An
  // in-memory database (":memory:") is no one else's: nothing to lock.
  static Result<ServeLock> acquire(const std::string& database, const std::string& holder);

  ServeLock() = default;
  ServeLock(ServeLock&& other) noexcept;
  ServeLock& operator=(ServeLock&& other) noexcept;
  ServeLock(const ServeLock&) = delete;
  ServeLock& operator=(const ServeLock&) = delete;
  ~ServeLock();  // releases it; the file stays (removing it would race the next holder)

  bool held() const { return fd_ >= 0; }
  static std::string lock_path(const std::string& database) { return database + ".lock"; }

 private:
  explicit ServeLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace fp::store
