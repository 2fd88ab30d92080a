#include "store/store_to_read.h"

#include <filesystem>
#include <vector>

#include "store/sqlite.h"

namespace fp::store {

Status empty_database_problem(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0)
    return Status::invalid_argument("database " + path +
                                    " is an empty file (0 bytes), not a fineprune database");
  return Status::ok_status();
}

Result<bool> holds_no_records(const std::string& path) {
  FP_ASSIGN_OR_RETURN(auto db, sql::Database::open(path, sql::Database::Access::kReadOnly));
  FP_ASSIGN_OR_RETURN(auto tables, db->prepare("SELECT name FROM sqlite_master WHERE type = "
                                               "'table' AND name NOT LIKE 'sqlite_%'"));
  std::vector<std::string> names;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool row, tables.step());
    if (!row) break;
    names.push_back(tables.column_text(0));
  }
  for (const auto& name : names) {
    if (name == "database_identity") continue;  // made with the schema, not a record
    std::string quoted = "\"";
    for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    FP_ASSIGN_OR_RETURN(int64_t any,
                        db->query_int("SELECT EXISTS (SELECT 1 FROM " + quoted + "\")"));
    if (any) return false;
  }
  return true;
}

Result<StoreToRead> open_to_read(const std::string& path, const std::string& tag,
                                 int* migrated_from) {
  FP_RETURN_IF_ERROR(empty_database_problem(path));
  FP_ASSIGN_OR_RETURN(ScratchFolder scratch, ScratchFolder::make(tag));
  FP_ASSIGN_OR_RETURN(auto store, Store::open_unchanged(path, scratch.path(), migrated_from));
  return StoreToRead{std::move(scratch), std::move(store)};
}

}  // namespace fp::store
