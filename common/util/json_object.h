// JSON text that must hold an object (a config, a spec, settings carried in a message).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "util/status.h"

namespace fp {

// `text` parsed; anything but a JSON object is refused as "<what>: not a JSON object",
// with the start of the text, so that the error names what was wrong.
Result<nlohmann::json> parse_json_object(std::string_view text, std::string_view what);

// "<what>: '<key>' type must be number, but is string": a value of the wrong type, named,
// without the library's "[json.exception.type_error.302]" tag.
Status json_value_error(std::string_view what, std::string_view key,
                        const nlohmann::json::exception& e);

}  // namespace fp
