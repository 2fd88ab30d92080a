// Refused handshakes, counted per source address and reported in summaries. One window (say
// 60 s) starts at the first refusal after the last one ended; in it, the first refusal from a
// source is reported at once while fewer than `max_at_once` were, and everything else is
// counted; when it ends, the `max_lines` largest counts are reported and the rest folded into
// one line. A storm of attempts costs a counter each, not a log line or a database row each,
// however many sources it comes from (a botnet, IPv6 addresses): at most max_at_once +
// max_lines + 2 lines a window. At most `max_sources` sources are tracked; refusals from any
// others are summed under "other sources". (Each source had a window of its own and a line
// at once: ~500 lines and events a minute from enough addresses, their windows ending at
// different ticks, crowding every other event out of the table.)
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
  // source in this window, while fewer than max_at_once were); otherwise it is held for due().
  bool add(const std::string& source, const std::string& reason, Clock::time_point now) {
    if (!in_window_) {
      in_window_ = true;
      since_ = now;
      at_once_ = 0;
    }
    auto it = sources_.find(source);
    if (it != sources_.end()) {
      ++it->second.count;
      it->second.reason = reason;
      return false;
    }
    if (sources_.size() >= max_sources_) {
      ++other_.count;
      other_.reason = reason;
      return false;
    }
    const bool now_reported = at_once_ < max_at_once_;
    at_once_ += now_reported;
    sources_.emplace(source, Line{source, now_reported ? 0u : 1u, reason});
    return now_reported;
  }

  // Once the window has ended (every count still held at Clock::time_point::max(), as at
  // shutdown): the counts held in it, the max_lines largest, then one line
  // for the rest ("N more sources") and one for untracked sources; the window closes.
  std::vector<Line> due(Clock::time_point now) {
    std::vector<Line> out;
    if (!in_window_ || now - since_ < window_) return out;
    for (auto& [source, line] : sources_)
      if (line.count) out.push_back(std::move(line));
    if (out.size() > max_lines_) {
      std::sort(out.begin(), out.end(), [](const Line& a, const Line& b) {
        return a.count != b.count ? a.count > b.count : a.source < b.source;
      });
      Line rest{std::to_string(out.size() - max_lines_) + " more sources", 0, out.back().reason};
      for (size_t i = max_lines_; i < out.size(); ++i) rest.count += out[i].count;
      out.resize(max_lines_);
      out.push_back(std::move(rest));
    }
    if (other_.count) out.push_back(other_);
    sources_.clear();
    other_.count = 0;
    in_window_ = false;
    return out;
  }

 private:
  Clock::duration window_;
  size_t max_sources_, max_at_once_, max_lines_;
  bool in_window_ = false;
  Clock::time_point since_{};
  size_t at_once_ = 0;  // first refusals reported at once in this window
  std::unordered_map<std::string, Line> sources_;
  Line other_{"other sources", 0, ""};
};

}  // namespace fp::security
