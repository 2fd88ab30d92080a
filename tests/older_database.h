// A database as an older fineprune wrote it: schema 1, for the commands and the dashboard
// that must read one without changing the file.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "store/migrations.h"
#include "store/sqlite.h"

namespace fp::testing {

// Writes `path`: schema 1 with one agent, "old-phone".
inline void write_schema1_database(const std::string& path) {
  auto db = sql::Database::open(path);
  REQUIRE(db.ok());
  REQUIRE((*db)->exec(store::migrations()[0]).ok());
  REQUIRE((*db)->exec("PRAGMA user_version = 1").ok());
  REQUIRE((*db)
              ->exec("INSERT INTO agents (agent_id, first_seen, last_seen) VALUES "
                     "('old-phone', 1, 1)")
              .ok());
}

}  // namespace fp::testing
