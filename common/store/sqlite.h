// A thin RAII layer over the SQLite C API: a connection, prepared statements with
// typed binds and columns, and a transaction guard. Errors become fp::Status
// carrying SQLite's message. Not thread-safe: a connection is used by one thread at a
// time (the coordinator hands its connection to its commit worker and waits for it).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "util/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fp::sql {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, const std::optional<double>& value);
  Statement& bind_null(int index);

  // True when a row is ready, false when done; an error otherwise.
  Result<bool> step();
  // Runs to completion (for statements that return no rows).
  Status run();
  // Clears binds and rewinds, ready for reuse.
  void reset();

  int64_t column_int(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::optional<double> column_optional_double(int column) const;
  bool column_is_null(int column) const;

 private:
  Status bind_status_;  // the first bind failure, reported by step()
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  enum class Access { kReadWrite, kReadOnly };
  // Opens (creating if needed) the file at `path`; ":memory:" works too. kReadOnly opens an
  // existing file only, makes no folder, and every write through it fails.
  static Result<std::unique_ptr<Database>> open(const std::string& path,
                                                Access access = Access::kReadWrite);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status exec(const std::string& sql);
  Result<Statement> prepare(const std::string& sql);
  Result<int64_t> query_int(const std::string& sql);  // first column of the first row
  int64_t last_insert_rowid() const;
  int changes() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }

 private:
  friend class Transaction;
  // Transaction control, prepared once per connection: the coordinator opens a savepoint or
  // a transaction for nearly every message, and parsing the statement each time was ~5 % of
  // its loop's samples in a profile of the 10,000-agent benchmark (issue 17).
  enum class Control { kBegin, kCommit, kRollback, kSavepoint, kRelease, kRollbackTo, kCount };
  Status control(Control c);

  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::array<sqlite3_stmt*, static_cast<size_t>(Control::kCount)> control_{};
};

// BEGIN IMMEDIATE on construction; rolls back unless commit() succeeded. Opened while
// another transaction is open on the connection it is a savepoint instead: rolling it
// back undoes its own writes only, and committing it makes them part of the enclosing
// transaction, durable when that one commits (the coordinator commits a burst of
// messages' writes together; coordinator/server.h).
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  const Status& begin_status() const { return begin_; }
  bool nested() const { return nested_; }
  Status commit();

 private:
  void roll_back();
  Database& db_;
  bool nested_;
  Status begin_;
  bool done_ = false;
};

}  // namespace fp::sql
