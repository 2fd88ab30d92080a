#include "store/sqlite.h"

#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <iterator>

#include "store/database_path.h"

namespace fp::sql {
namespace {

Status error(sqlite3* db, const std::string& what) {
  return Status::io_error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// A statement as an error names it: its first words on one line, and the database file (a
// full disk printed the whole multi-line INSERT and named no file).
std::string statement_words(sqlite3* db, const char* sql) {
  std::string words;
  for (const char* c = sql ? sql : ""; *c != '\0' && words.size() < 48; ++c) {
    const bool space = *c == ' ' || *c == '\n' || *c == '\t' || *c == '\r';
    if (space && (words.empty() || words.back() == ' ')) continue;
    words += space ? ' ' : *c;
  }
  if (sql && std::strlen(sql) > words.size()) words += "...";
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  return std::string(file && *file ? file : ":memory:") + ": " + words;
}

}  // namespace

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& o) noexcept
    : bind_status_(std::move(o.bind_status_)), db_(o.db_), stmt_(o.stmt_) {
  o.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    bind_status_ = std::move(o.bind_status_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

#define FP_SQL_BIND(call)                                                      \
  do {                                                                         \
    if ((call) != SQLITE_OK && bind_status_.ok()) {                            \
      bind_status_ = error(db_, "binding parameter " + std::to_string(index)); \
    }                                                                          \
  } while (0)

Statement& Statement::bind(int index, int64_t value) {
  FP_SQL_BIND(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::bind(int index, double value) {
  FP_SQL_BIND(sqlite3_bind_double(stmt_, index, value));
  return *this;
}

Statement& Statement::bind(int index, const std::string& value) {
  FP_SQL_BIND(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind(int index, const std::optional<double>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  FP_SQL_BIND(sqlite3_bind_null(stmt_, index));
  return *this;
}

#undef FP_SQL_BIND

Result<bool> Statement::step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error(db_, statement_words(db_, sqlite3_sql(stmt_)));
}

Status Statement::run() {
  auto r = step();
  if (!r.ok()) return r.status();
  return Status::ok_status();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_status_ = Status::ok_status();
}

int64_t Statement::column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::column_text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

std::optional<double> Statement::column_optional_double(int column) const {
  if (column_is_null(column)) return std::nullopt;
  return column_double(column);
}

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path, Access access) {
  const bool writes = access == Access::kReadWrite;
  // A fresh checkout has no output folder yet: create the database's parent folder.
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (writes && !parent.empty() && path != ":memory:")
    std::filesystem::create_directories(parent, ec);
  if (ec) return Status::io_error("creating folder " + parent.string() + ": " + ec.message());
  if (Status s = store::check_database_path(path); !s.ok()) return s;
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      (writes ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) |
                          SQLITE_OPEN_NOMUTEX,
                      nullptr);
  if (rc != SQLITE_OK) {
    Status s = error(db, "opening database " + path);
    sqlite3_close(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<Database>(new Database(db, path));
}

Database::~Database() {
  for (sqlite3_stmt* s : control_) sqlite3_finalize(s);  // else the close fails: in use
  sqlite3_close(db_);
}

Status Database::exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return Status::io_error(path_ + ": " + text);
  }
  return Status::ok_status();
}

Status Database::control(Control c) {
  static constexpr const char* kSql[] = {"BEGIN IMMEDIATE", "COMMIT",        "ROLLBACK",
                                         "SAVEPOINT fp_tx", "RELEASE fp_tx", "ROLLBACK TO fp_tx"};
  static_assert(std::size(kSql) == static_cast<size_t>(Control::kCount));
  sqlite3_stmt*& stmt = control_[static_cast<size_t>(c)];
  const char* sql = kSql[static_cast<size_t>(c)];
  if (!stmt && sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK)
    return Status::io_error(path_ + ": " + sql + ": " + sqlite3_errmsg(db_));
  const int rc = sqlite3_step(stmt);
  // The message before the reset, which keeps it but may rewrite it.
  Status s = rc == SQLITE_DONE ? Status::ok_status()
                               : Status::io_error(path_ + ": " + sqlite3_errmsg(db_));
  sqlite3_reset(stmt);
  return s;
}

Result<Statement> Database::prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return error(db_, "preparing " + statement_words(db_, sql.c_str()));
  }
  return Statement(db_, stmt);
}

Result<int64_t> Database::query_int(const std::string& sql) {
  FP_ASSIGN_OR_RETURN(auto stmt, prepare(sql));
  FP_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return Status::not_found("no row from " + sql);
  return stmt.column_int(0);
}

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

Transaction::Transaction(Database& db)
    : db_(db),
      nested_(sqlite3_get_autocommit(db.handle()) == 0),
      begin_(db.control(nested_ ? Database::Control::kSavepoint : Database::Control::kBegin)) {}

Transaction::~Transaction() {
  if (!done_ && begin_.ok()) roll_back();
}

void Transaction::roll_back() {
  // A savepoint rolled back stays open until released.
  if (nested_) {
    // Released only once rolled back: a release after a failed rollback would keep the
    // savepoint's writes in the enclosing transaction.
    if (db_.control(Database::Control::kRollbackTo).ok())
      (void)db_.control(Database::Control::kRelease);
  } else {
    (void)db_.control(Database::Control::kRollback);
  }
}

Status Transaction::commit() {
  if (!begin_.ok()) return begin_;
  done_ = true;
  Status s = db_.control(nested_ ? Database::Control::kRelease : Database::Control::kCommit);
  if (!s.ok()) roll_back();
  return s;
}

}  // namespace fp::sql
