// Durations in config files and on command lines: "90s", "15m", "2h", "1500ms", "1d",
// or a bare number of seconds.
#pragma once

#include <chrono>
#include <string>

#include "util/status.h"

namespace fp::config {

Result<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace fp::config
