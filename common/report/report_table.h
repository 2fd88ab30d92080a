// One table written twice: CSV (RFC 4180 fields) with raw numbers, Markdown with readable
// ones. Every report table of fp-sim (experiment_report, pooled_report) is one of these.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "util/csv.h"

namespace fp::report {

struct ReportTable {
  std::vector<std::string> header;
  // The Markdown's own, where its cells differ from the CSV's (one "[low, high]" cell for
  // two CSV columns); empty: `header`. Each Markdown row has as many cells as it.
  std::vector<std::string> md_header;
  std::vector<std::vector<std::string>> csv_rows, md_rows;

  // md_header: `header` with the CSV's columns `at` and `at + 1` (an interval's low and high)
  // as one "95% CI" cell, as the rows write it ("[low, high]").
  void merge_interval_columns(size_t at) {
    md_header = header;
    md_header[at] = "95% CI";
    md_header.erase(md_header.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }

  std::string csv() const {
    auto line = [](const std::vector<std::string>& cells) {
      std::string out;
      for (size_t i = 0; i < cells.size(); ++i) out += (i ? "," : "") + csv_field(cells[i]);
      return out + "\n";
    };
    std::string out = line(header);
    for (const auto& r : csv_rows) out += line(r);
    return out;
  }
  // Text columns are left-aligned: the first `text_columns`, numbers right-aligned after.
  std::string markdown(size_t text_columns = 1) const {
    auto line = [](const std::vector<std::string>& cells) {
      std::string out = "|";
      for (const auto& c : cells) {
        out += " ";
        // A '|' in a name would start a column, a line break end the row.
        for (char ch : c)
          out += ch == '|' ? std::string("\\|") : std::string(1, ch == '\n' ? ' ' : ch);
        out += " |";
      }
      return out + "\n";
    };
    const auto& names = md_header.empty() ? header : md_header;
    std::string out = line(names) + "|";
    for (size_t i = 0; i < names.size(); ++i) out += i < text_columns ? "---|" : "---:|";
    out += "\n";
    for (const auto& r : md_rows) out += line(r);
    return out;
  }
};

}  // namespace fp::report
