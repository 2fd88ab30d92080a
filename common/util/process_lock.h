// One process at a time for what two would spoil: a database a coordinator serves
// (store/serve_lock.h), a device agent's work folder (its outbox and model cache). An advisory
// lock (an open file description's fcntl lock) on a lock file, held for the process's life;
// the file says who holds it. The kernel drops the lock when its process ends, however it
// ends (SIGKILL included), so a file left behind never blocks the next start.
#pragma once

#include <optional>
#include <string>

#include "util/status.h"

namespace fp {

class ProcessLock {
 public:
  // Takes the lock on `lock_file` (its folder is created if missing) for `resource` (what a
  // refusal names: "database x.db"), recording `holder` (who: a program and what it runs
  // as) with this process's id and the time. Unavailable, naming the resource and the
  // holder, when another process holds it. On a file system without locks it warns and
  // returns a lock that holds nothing (held() false): the work goes on unguarded.
  static Result<ProcessLock> acquire(const std::string& lock_file, const std::string& resource,
                                     const std::string& holder);

  ProcessLock() = default;  // holds nothing
  ProcessLock(ProcessLock&& other) noexcept;
  ProcessLock& operator=(ProcessLock&& other) noexcept;
  ProcessLock(const ProcessLock&) = delete;
  ProcessLock& operator=(const ProcessLock&) = delete;
  ~ProcessLock();  // releases it; the file stays (removing it would race the next holder)

  bool held() const { return fd_ >= 0; }

  // Whether some process holds the lock on `lock_file` now, without taking it or writing the
  // file: false when no process does (or the file does not exist: none ever did), nullopt
  // when it cannot be told (the file unreadable; a file system without locks).
  static std::optional<bool> held_by_another(const std::string& lock_file);
  // Who holds the lock on `lock_file` now, as acquire() recorded it ("fp-coordinator serve, pid
  // 12, since ..."; "" when it has not said yet); nullopt when no process holds it or it cannot
  // be told.
  static std::optional<std::string> holder(const std::string& lock_file);

 private:
  explicit ProcessLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace fp
