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

}  // namespace fp
