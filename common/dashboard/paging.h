// Paged lists in the API's answers: which slice of the matching rows an answer carries
// (?offset=&limit=, api.h), and the case-insensitive text search (?q=).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dashboard/query.h"
#include "util/status.h"

namespace fp::dash {

constexpr int64_t kDefaultLimit = 100;
constexpr int64_t kMaxLimit = 10000;

struct Page {
  int64_t offset = 0, limit = kDefaultLimit;
};

// offset (default 0) and limit (default 100, at most 10,000) from the query; a bad one
// is InvalidArgument naming it.
Result<Page> page_of(const Query& query);

// The answer's "page" object: {offset, limit, matched, total}.
nlohmann::json page_json(const Page& page, size_t matched, size_t total);

// Calls `emit` for the rows of `matched` inside the page; returns its "page" object.
template <typename Row, typename Emit>
nlohmann::json emit_page(const std::vector<Row>& matched, size_t total, const Page& page,
                         Emit emit) {
  const size_t first = std::min(matched.size(), static_cast<size_t>(page.offset));
  const size_t end = std::min(matched.size(), first + static_cast<size_t>(page.limit));
  for (size_t k = first; k < end; ++k) emit(matched[k]);
  return page_json(page, matched.size(), total);
}

// Whether any of `fields` contains `needle` (already lower case), ignoring case; an
// empty needle matches everything.
bool contains_text(std::initializer_list<const std::string*> fields, const std::string& needle);

}  // namespace fp::dash
