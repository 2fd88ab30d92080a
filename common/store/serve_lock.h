// One process serves a database at a time. A second coordinator on the same file would take
// the first's live assignments for ones a stopped coordinator left (and requeue them), then
// hand the same tasks to other agents; `fp-sim run --fresh` into a folder where a run is
// going would delete it. So `fp-coordinator serve` and `fp-sim run` hold the database's lock
// (util/process_lock.h) on "<database>.lock" while they serve.
#pragma once

#include <string>

#include "util/process_lock.h"

namespace fp::store {

inline std::string serve_lock_file(const std::string& database) { return database + ".lock"; }

// The lock of `database`; an in-memory one (":memory:") is no one else's: nothing to lock.
inline Result<ProcessLock> lock_database(const std::string& database, const std::string& holder) {
  if (database == ":memory:") return ProcessLock();
  return ProcessLock::acquire(serve_lock_file(database), "database " + database, holder);
}

// Whether a process serves `database` now (holds its lock): a run recorded as running that
// no process serves was stopped without recording its end (killed, or its machine lost).
// Tries the lock and lets it go at once.
inline bool database_in_use(const std::string& database) {
  if (database == ":memory:") return false;
  auto lock = ProcessLock::acquire(serve_lock_file(database), "database " + database,
                                   "a check whether it is in use");
  return !lock.ok() && lock.status().code() == Status::Code::kUnavailable;
}

}  // namespace fp::store
