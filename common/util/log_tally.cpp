#include "util/log_tally.h"

namespace fp {

LogTally::LogTally(size_t keep) : keep_(keep) { set_level(spdlog::level::warn); }

LogTally::Counts LogTally::counts() {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

std::vector<std::string> LogTally::take_new() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  out.swap(fresh_);
  return out;
}

int64_t LogTally::not_kept() {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_.warnings + counts_.errors - static_cast<int64_t>(kept_);
}

void LogTally::sink_it_(const spdlog::details::log_msg& msg) {
  // base_sink holds mutex_ here and filters by this sink's level (warn and above).
  const bool warning = msg.level == spdlog::level::warn;
  if (warning) {
    ++counts_.warnings;
  } else {
    ++counts_.errors;
  }
  if (kept_ >= keep_) return;
  ++kept_;
  fresh_.push_back((warning ? "warning: " : "error: ") +
                   std::string(msg.payload.data(), msg.payload.size()));
}

}  // namespace fp
