// The one strict TOML reader of fineprune: fp-agent's config, fp-sim's scenarios (and
// the coordinator's config) read their files through it. A TomlTable hands out typed
// values of the keys a reader asks for, then finish() refuses any key nobody asked for
// (a typo or a misplaced setting). Messages read "<file>:<line>: <table>.<key> ...".
#pragma once

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "util/status.h"

namespace fp::config {

// Parses TOML text; a syntax error is "<source>:<line>: not valid TOML: ...".
Result<toml::table> parse_toml(const std::string& text, const std::string& source);
// Reads and parses a file ("config file <path> cannot be opened" when missing).
Result<toml::table> parse_toml_file(const std::string& path);

// One TOML table: typed reads of known keys, then finish() rejects any key not read.
// Messages read "<file>:<line>: <table>.<key> must be ...".
class TomlTable {
 public:
  TomlTable(const toml::table* table, std::string path, const std::string& source)
      : table_(table), path_(std::move(path)), source_(source) {}

  template <typename T>
  Status get(const char* key, T& out) {
    const toml::node* node = find(key);
    if (!node) return Status::ok_status();
    if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = node->value_exact<std::string>()) return out = *v, Status::ok_status();
      return wrong(*node, key, "a string");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node->value_exact<bool>()) return out = *v, Status::ok_status();
      return wrong(*node, key, "a boolean (true or false)");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (auto v = node->value_exact<double>()) return out = *v, Status::ok_status();
      if (auto v = node->value_exact<int64_t>())
        return out = static_cast<T>(*v), Status::ok_status();
      return wrong(*node, key, "a number");
    } else {
      auto v = node->value_exact<int64_t>();
      if (!v) return wrong(*node, key, "an integer");
      if (std::is_unsigned_v<T> && *v < 0) return wrong(*node, key, "a non-negative integer");
      // A value the setting's type cannot hold wrapped (4294967297 agents became 1).
      if (!fits<T>(*v)) return wrong(*node, key, range_of<T>());
      out = static_cast<T>(*v);
      return Status::ok_status();
    }
  }

  // An optional key: left unset when absent.
  template <typename T>
  Status get(const char* key, std::optional<T>& out) {
    const bool present = table_ && table_->get(key);
    T value{};
    FP_RETURN_IF_ERROR(get(key, value));
    if (present) out = value;
    return Status::ok_status();
  }

  template <typename T>
  Status get_list(const char* key, std::vector<T>& out) {
    const toml::node* node = find(key);
    if (!node) return Status::ok_status();
    const toml::array* array = node->as_array();
    const char* what = std::is_same_v<T, std::string> ? "an array of strings"
                       : std::is_integral_v<T>        ? "an array of integers"
                                                      : "an array of numbers";
    if (!array) return wrong(*node, key, what);
    std::vector<T> values;
    for (const auto& item : *array) {
      std::optional<T> v;
      if constexpr (std::is_same_v<T, std::string>) {
        v = item.value_exact<std::string>();
      } else if constexpr (std::is_integral_v<T>) {
        if (auto i = item.value_exact<int64_t>()) {
          if (!fits<T>(*i)) return wrong(item, key, "an array of " + range_of<T>());
          v = static_cast<T>(*i);
        }
      } else {
        v = item.value_exact<double>();
        if (!v) {
          if (auto i = item.value_exact<int64_t>()) v = static_cast<T>(*i);
        }
      }
      if (!v) return wrong(item, key, what);
      values.push_back(*v);
    }
    out = std::move(values);
    return Status::ok_status();
  }

  // get_list for a list of distinct things (individuals, methods, sparsities): an item
  // given twice is a typo for another, refused at its line ("... names "x" twice").
  template <typename T>
  Status get_distinct_list(const char* key, std::vector<T>& out) {
    FP_RETURN_IF_ERROR(get_list(key, out));
    const toml::array* array = table_ && table_->get(key) ? table_->get(key)->as_array() : nullptr;
    for (size_t i = 0; array && i < out.size(); ++i) {
      if (std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(i), out[i]) ==
          out.begin() + static_cast<std::ptrdiff_t>(i))
        continue;
      std::ostringstream item;
      if constexpr (std::is_same_v<T, std::string>)
        item << '"' << out[i] << '"';
      else
        item << out[i];
      return Status::invalid_argument(at(*array->get(i)) + name(key) + " names " + item.str() +
                                      " twice");
    }
    return Status::ok_status();
  }

  // A nested table (nullptr when absent); an error when the key holds something else.
  Result<const toml::table*> table(const char* key) {
    const toml::node* node = find(key);
    if (!node) return static_cast<const toml::table*>(nullptr);
    if (!node->is_table()) return wrong(*node, key, "a table");
    return node->as_table();
  }

  // An array of tables ([[key]]); empty when absent.
  Result<std::vector<const toml::table*>> tables(const char* key) {
    std::vector<const toml::table*> out;
    const toml::node* node = find(key);
    if (!node) return out;
    const toml::array* array = node->as_array();
    if (!array) return wrong(*node, key, "an array of tables ([[" + name(key) + "]])");
    for (const auto& item : *array) {
      if (!item.is_table()) return wrong(item, key, "an array of tables ([[" + name(key) + "]])");
      out.push_back(item.as_table());
    }
    return out;
  }

  // Call after every read: a key nobody asked for is a typo or a misplaced setting.
  // `subtables` are keys another reader handles (nested tables read elsewhere).
  Status finish(const std::set<std::string>& subtables = {}) const {
    if (!table_) return Status::ok_status();
    for (const auto& [key, node] : *table_) {
      std::string k(key.str());
      if (known_.count(k) || subtables.count(k)) continue;
      std::string list;
      for (const auto& n : order_) list += (list.empty() ? "" : ", ") + n;
      return Status::invalid_argument(at(node) + "unknown key '" + name(k) + "'" +
                                      (list.empty() ? "" : " (known here: " + list + ")"));
    }
    return Status::ok_status();
  }

  // "<file>:<line>: " for a node, "<file>: " when the position is unknown.
  std::string at(const toml::node& node) const {
    auto line = node.source().begin.line;
    return source_ + (line > 0 ? ":" + std::to_string(line) : "") + ": ";
  }
  std::string at_key(const char* key) const {
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    return node ? at(*node) : source_ + ": ";
  }
  std::string name(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& path() const { return path_; }

 private:
  const toml::node* find(const char* key) {
    if (known_.insert(key).second) order_.push_back(key);
    return table_ ? table_->get(key) : nullptr;
  }
  Status wrong(const toml::node& node, const std::string& key, const std::string& expected) const {
    return Status::invalid_argument(at(node) + name(key) + " must be " + expected);
  }
  // Whether the integral type T holds `v` (a TOML integer is 64-bit signed).
  template <typename T>
  static bool fits(int64_t v) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      return v >= 0;
    } else if constexpr (std::is_unsigned_v<T>) {
      return v >= 0 && static_cast<uint64_t>(v) <= std::numeric_limits<T>::max();
    } else if constexpr (sizeof(T) >= sizeof(int64_t)) {
      return true;
    } else {
      return v >= std::numeric_limits<T>::min() && v <= std::numeric_limits<T>::max();
    }
  }
  template <typename T>
  static std::string range_of() {
    return "an integer from " + std::to_string(std::numeric_limits<T>::min()) + " to " +
           std::to_string(std::numeric_limits<T>::max());
  }

  const toml::table* table_;
  std::string path_;
  const std::string& source_;
  std::set<std::string> known_;
  std::vector<std::string> order_;
};

}  // namespace fp::config
