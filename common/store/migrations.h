// Schema migrations: migration i (0-based) takes the database from user_version i
// to i + 1. Append only; never edit a released migration.
#pragma once

#include <string>
#include <vector>

#include "store/sqlite.h"

namespace fp::store {

const std::vector<std::string>& migrations();
inline int latest_schema_version() { return static_cast<int>(migrations().size()); }

// Applies every migration past the database's user_version, each in its own
// transaction. A database newer than this program is refused, not touched. A migration is
// logged (it is one way) unless `quietly` (a copy that only a check reads).
Status migrate(sql::Database& db, bool quietly = false);

}  // namespace fp::store
