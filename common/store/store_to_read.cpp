#include "store/store_to_read.h"

namespace fp::store {

Result<StoreToRead> open_to_read(const std::string& path, const std::string& tag) {
  FP_ASSIGN_OR_RETURN(ScratchFolder scratch, ScratchFolder::make(tag));
  FP_ASSIGN_OR_RETURN(auto store, Store::open_unchanged(path, scratch.path()));
  return StoreToRead{std::move(scratch), std::move(store)};
}

}  // namespace fp::store
