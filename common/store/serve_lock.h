// One process serves a database at a time. A second coordinator on the same file would take
// the first's live assignments for ones a stopped coordinator left (and requeue them), then
// hand the same tasks to other agents; `fp-sim run --fresh` into a folder where a run is
// going would delete it. So `fp-coordinator serve` and `fp-sim run` hold the database's lock
// (util/process_lock.h) on "<database>.lock" (beside the file a link leads to) and on the
// database file itself while they serve.
#pragma once

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

// The lock of `database`; an in-memory one (":memory:") is no one else's: nothing to lock.
// The database file itself is locked too where it exists (ProcessLock::also_lock_file): a
// hard link to it names another lock file, and two coordinators on one file lost reports.
inline Result<ProcessLock> lock_database(const std::string& database, const std::string& holder) {
  if (database == ":memory:") return ProcessLock();
  // Refused as opening it would be, before a "<folder>.lock" is left beside it.
  if (Status s = check_database_path(database); !s.ok()) return s;
  const std::string resource = "database " + database;
  FP_ASSIGN_OR_RETURN(ProcessLock lock,
                      ProcessLock::acquire(serve_lock_file(database), resource, holder));
  FP_RETURN_IF_ERROR(lock.also_lock_file(database, resource));
  return lock;
}

// Whether a process serves `database` now (holds its lock), without taking the lock: a run
// recorded as running that no process serves was stopped without recording its end
// (killed, or its machine lost). nullopt when it cannot be told (ProcessLock::held_by_another).
inline std::optional<bool> database_in_use(const std::string& database) {
  if (database == ":memory:") return false;
  const std::optional<bool> named = ProcessLock::held_by_another(serve_lock_file(database));
  if (named == std::optional<bool>(true)) return true;
  // Under another name (a hard link to the same file).
  if (ProcessLock::file_held_by_another(database) == std::optional<bool>(true)) return true;
  return named;
}

// Who serves `database` now, as its lock file says ("fp-coordinator serve, pid ..."); nullopt
// when no process does.
inline std::optional<std::string> database_holder(const std::string& database) {
  if (database == ":memory:") return std::nullopt;
  return ProcessLock::holder(serve_lock_file(database));
}

}  // namespace fp::store
