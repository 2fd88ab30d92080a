// JSON text that must hold an object (a config, a spec, settings carried in a message).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "util/status.h"

namespace fp {

// `text` parsed; anything but a JSON object is refused as "<what>: not a JSON object",
// with the start of the text, so that the error names what was wrong.
Result<nlohmann::json> parse_json_object(std::string_view text, std::string_view what);

// "<what>: '<key>' type must be number, but is string": a value of the wrong type, named,
// without the library's "[json.exception.type_error.302]" tag.
Status json_value_error(std::string_view what, std::string_view key,
                        const nlohmann::json::exception& e);

// j[key] into `field` when present (absent: `field` unchanged). A wrong type throws
// nlohmann::json::type_error (for json_value_error), and so does a number with a fraction for
// an integer field: the library would silently cut 2.5 to 2.
template <class T>
void read_json_value(const nlohmann::json& j, const char* key, T& field) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (it->is_number_float())
      throw nlohmann::json::type_error::create(
          302, "type must be an integer, but is a number with a fraction", &*it);
  }
  field = it->template get<T>();
}

// Reads fields of one settings object, remembering the key it reads so that a type error
// (thrown by read()) can name it: catch nlohmann::json::exception and return
// json_value_error(what, reader.key(), e).
class JsonFieldReader {
 public:
  explicit JsonFieldReader(const nlohmann::json& j) : j_(j) {}
  template <class T>
  void read(const char* key, T& field) {
    key_ = key;
    read_json_value(j_, key, field);
  }
  // The name at `key`, when present, through `parse` (Result<T>(const std::string&), e.g.
  // parse_criterion) into `field`; its error when the name is not one it knows.
  template <class T, class Parse>
  Status read_name(const char* key, T& field, Parse parse) {
    if (!j_.contains(key)) return Status::ok_status();
    std::string name;
    read(key, name);
    FP_ASSIGN_OR_RETURN(field, parse(name));
    return Status::ok_status();
  }
  const char* key() const { return key_; }

 private:
  const nlohmann::json& j_;
  const char* key_ = "";
};

}  // namespace fp
