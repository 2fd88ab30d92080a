#include "util/json_object.h"

#include <string>

#include "util/text.h"

namespace fp {

Result<nlohmann::json> parse_json_object(std::string_view text, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::invalid_argument(std::string(what) + ": not a JSON object: '" +
                                    clean_text(text, 80) + "'");
  return j;
}

Status json_value_error(std::string_view what, std::string_view key,
                        const nlohmann::json::exception& e) {
  std::string_view text = e.what();
  if (!text.empty() && text.front() == '[') {
    const size_t end = text.find("] ");
    if (end != std::string_view::npos) text.remove_prefix(end + 2);
  }
  return Status::invalid_argument(std::string(what) + ": '" + std::string(key) + "' " +
                                  std::string(text));
}

}  // namespace fp
