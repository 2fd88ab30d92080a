// Refused handshakes, counted per source address and reported in summaries: the first
// refusal from a source is reported at once, the rest of its window (say 60 s) only as a
// count when the window ends. A storm of attempts costs a counter each, not a log line
// or a database row each. At most `max_sources` sources are tracked per window; refusals
// from any others are summed under "other sources". Across sources too the lines are
// bounded: at most `max_at_once` first refusals a window are reported at once (the rest are
// held like repeats), and a window's end reports the `max_lines` largest counts, the others
// folded into one line: many sources each trying once (a botnet, IPv6 addresses) wrote a
// line and an event each, ~500 a minute, crowding every other event out of the table.
#pragma once

#include <algorithm>
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

  RefusalSummary(Clock::duration window, size_t max_sources, size_t max_at_once = 8,
                 size_t max_lines = 8)
      : window_(window),
        max_sources_(max_sources),
        max_at_once_(max_at_once),
        max_lines_(max_lines) {}

  // Counts one refusal. Returns true when it should be reported now (the first from its
  // source in a window, while fewer than max_at_once were this window); otherwise it is
  // held for due().
  bool add(const std::string& source, const std::string& reason, Clock::time_point now) {
    auto it = sources_.find(source);
    if (it == sources_.end()) {
      if (sources_.size() >= max_sources_) {
        if (!other_.count) other_since_ = now;
        ++other_.count;
        other_.reason = reason;
        return false;
      }
      if (now - at_once_since_ >= window_) {
        at_once_since_ = now;
        at_once_ = 0;
      }
      const bool now_reported = at_once_ < max_at_once_;
      at_once_ += now_reported;
      sources_.emplace(source, Entry{now, {source, now_reported ? 0u : 1u, reason}});
      return now_reported;
    }
    ++it->second.held.count;
    it->second.held.reason = reason;
    return false;
  }

  // Counts held back by sources whose window has ended (those sources start afresh): the
  // max_lines largest, then one line for the rest ("N more sources").
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
    if (out.size() > max_lines_) {
      std::sort(out.begin(), out.end(), [](const Line& a, const Line& b) {
        return a.count != b.count ? a.count > b.count : a.source < b.source;
      });
      Line rest{std::to_string(out.size() - max_lines_) + " more sources", 0, out.back().reason};
      for (size_t i = max_lines_; i < out.size(); ++i) rest.count += out[i].count;
      out.resize(max_lines_);
      out.push_back(std::move(rest));
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
  size_t max_sources_, max_at_once_, max_lines_;
  Clock::time_point at_once_since_{};  // the window the first refusals reported at once count in
  size_t at_once_ = 0;
  std::unordered_map<std::string, Entry> sources_;
  Line other_{"other sources", 0, ""};
  Clock::time_point other_since_{};
};

}  // namespace fp::security
