// A database opened as it is, for the commands that only read (fp-coordinator status,
// export, report; fp-sim list, report, export, pool; the dashboard): read-only, and an older schema
// read from a copy migrated in a scratch folder (Store::open_unchanged), so the file stays as it
// was for the program that wrote it.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"
#include "util/scratch_folder.h"
#include "util/status.h"

namespace fp::store {

struct StoreToRead {
  ScratchFolder scratch;  // holds the migrated copy, when there is one
  std::unique_ptr<Store> store;
};

// `tag` names the scratch folder ("fp-read.<pid>.XXXXXX"). A missing file is NotFound, nothing
// made; an empty one is refused (empty_database_problem). `migrated_from` receives the schema
// version of an older file read through a migrated copy (0 otherwise).
Result<StoreToRead> open_to_read(const std::string& path, const std::string& tag,
                                 int* migrated_from = nullptr);

// Whether the database at `path` holds no record: no table but its identity's has a row (a
// run's set-up stopped by a full disk or a kill after SQLite made the file, before anything
// was stored). Read-only; an error where it cannot be read.
Result<bool> holds_no_records(const std::string& path);

// InvalidArgument when `path` is a file of 0 bytes: SQLite takes one for a new database (a
// reader wrote a schema into it, or said "no campaign with id 1"), but it is none.
Status empty_database_problem(const std::string& path);

}  // namespace fp::store
