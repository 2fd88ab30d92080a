#include "dashboard/paging.h"

#include "util/text.h"

namespace fp::dash {

Result<Page> page_of(const Query& query) {
  Page p;
  FP_ASSIGN_OR_RETURN(p.offset, query.integer("offset", 0, 0, INT64_C(1) << 40));
  FP_ASSIGN_OR_RETURN(p.limit, query.integer("limit", kDefaultLimit, 0, kMaxLimit));
  return p;
}

nlohmann::json page_json(const Page& page, size_t matched, size_t total) {
  return {{"offset", page.offset}, {"limit", page.limit}, {"matched", matched}, {"total", total}};
}

bool contains_text(std::initializer_list<const std::string*> fields, const std::string& needle) {
  if (needle.empty()) return true;
  for (const std::string* f : fields) {
    if (ascii_lower(*f).find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace fp::dash
