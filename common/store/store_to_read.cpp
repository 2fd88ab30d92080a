#include "store/store_to_read.h"

#include <filesystem>

namespace fp::store {

Status empty_database_problem(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0)
    return Status::invalid_argument("database " + path +
                                    " is an empty file (0 bytes), not a fineprune database");
  return Status::ok_status();
}

Result<StoreToRead> open_to_read(const std::string& path, const std::string& tag,
                                 int* migrated_from) {
  FP_RETURN_IF_ERROR(empty_database_problem(path));
  FP_ASSIGN_OR_RETURN(ScratchFolder scratch, ScratchFolder::make(tag));
  FP_ASSIGN_OR_RETURN(auto store, Store::open_unchanged(path, scratch.path(), migrated_from));
  return StoreToRead{std::move(scratch), std::move(store)};
}

}  // namespace fp::store
