// Refused handshakes, counted per source address and reported in summaries: the first
// refusal from a source is reported at once, the rest of its window (say 60 s) only as a
// count when the window ends. A storm of attempts costs a counter each, not a log line
// or a database row each. At most `max_sources` sources are tracked per window; refusals
// from any others are summed under "other sources".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace fp::security {

class RefusalSummary {
 public:
  using Clock = std::chrono::steady_clock;
  struct Line {
    std::string source;
    uint64_t count = 0;
    std::string reason;  // the last refusal's
  };

  RefusalSummary(Clock::duration window, size_t max_sources)
      : window_(window), max_sources_(max_sources) {}

  // Counts one refusal. Returns true when it should be reported now (the first from its
  // source in a window); otherwise it is held for due().
  bool add(const std::string& source, const std::string& reason, Clock::time_point now) {
    auto it = sources_.find(source);
    if (it == sources_.end()) {
      if (sources_.size() >= max_sources_) {
        if (!other_.count) other_since_ = now;
        ++other_.count;
        other_.reason = reason;
        return false;
      }
      sources_.emplace(source, Entry{now, {source, 0, reason}});
      return true;
    }
    ++it->second.held.count;
    it->second.held.reason = reason;
    return false;
  }

  // Counts held back by sources whose window has ended (those sources start afresh).
  std::vector<Line> due(Clock::time_point now) {
    std::vector<Line> out;
    for (auto it = sources_.begin(); it != sources_.end();) {
      if (now - it->second.since < window_) {
        ++it;
        continue;
      }
      if (it->second.held.count) out.push_back(it->second.held);
      it = sources_.erase(it);
    }
    if (other_.count && now - other_since_ >= window_) {
      out.push_back(other_);
      other_.count = 0;
    }
    return out;
  }

  // Every count still held (at shutdown).
  std::vector<Line> flush() { return due(Clock::time_point::max()); }

 private:
  struct Entry {
    Clock::time_point since;
    Line held;
  };
  Clock::duration window_;
  size_t max_sources_;
  std::unordered_map<std::string, Entry> sources_;
  Line other_{"other sources", 0, ""};
  Clock::time_point other_since_{};
};

}  // namespace fp::security
