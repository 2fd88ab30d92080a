// One process serves a database at a time. A second coordinator on the same file would take
// the first's live assignments for ones a stopped coordinator left (and requeue them), then
// hand the same tasks to other agents; `fp-sim run --fresh` into a folder where a run is
// going would delete it. So `fp-coordinator serve` and `fp-sim run` hold the database's lock
// (util/process_lock.h) on "<database>.lock", beside the file a link leads to, while they
// serve.
#pragma once

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>

#include "store/database_path.h"
#include "util/process_lock.h"

namespace fp::store {

// Beside the file the path leads to: a symbolic link to the database (or a path through a
// linked folder) is the same database, and took a lock of its own beside the link.
inline std::string serve_lock_file(const std::string& database) {
  std::error_code ec;
  const auto real = std::filesystem::weakly_canonical(database, ec);
  return (ec || real.empty() ? database : real.string()) + ".lock";
}

// Logs a warning when the database file has more than one name (st_nlink > 1).
inline void warn_if_hard_linked(const std::string& database) {
  struct stat st {};
  if (::stat(database.c_str(), &st) != 0 || st.st_nlink <= 1) return;
  spdlog::warn(
      "database {} has {} names (hard links to one file): a program using it by another "
      "name is not stopped by its lock; use one name",
      database, st.st_nlink);
}

// The lock of `database`; an in-memory one (":memory:") is no one else's: nothing to lock.
// A database file with more than one name (hard links) is warned about: a lock under another
// name is not seen (two coordinators on hard links each kept a WAL and lost reports). The
// file itself is not locked: closing a descriptor of it drops SQLite's own locks on it in
// this process.
inline Result<ProcessLock> lock_database(const std::string& database, const std::string& holder) {
  if (database == ":memory:") return ProcessLock();
  // Refused as opening it would be, before a "<folder>.lock" is left beside it.
  if (Status s = check_database_path(database); !s.ok()) return s;
  warn_if_hard_linked(database);
  return ProcessLock::acquire(serve_lock_file(database), "database " + database, holder);
}

// Whether a process serves `database` now (holds its lock), without taking the lock: a run
// recorded as running that no process serves was stopped without recording its end
// (killed, or its machine lost). nullopt when it cannot be told (ProcessLock::held_by_another).
inline std::optional<bool> database_in_use(const std::string& database) {
  if (database == ":memory:") return false;
  return ProcessLock::held_by_another(serve_lock_file(database));
}

// Who serves `database` now, as its lock file says ("fp-coordinator serve, pid ..."); nullopt
// when no process does.
inline std::optional<std::string> database_holder(const std::string& database) {
  if (database == ":memory:") return std::nullopt;
  return ProcessLock::holder(serve_lock_file(database));
}

}  // namespace fp::store
