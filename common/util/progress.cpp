#include "util/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace fp {

Progress::Progress(std::string label, int64_t total, Options options)
    : label_(std::move(label)), total_(total), options_(std::move(options)) {
  if (!options_.clock) {
    options_.clock = [] {
      using namespace std::chrono;
      return duration<double>(steady_clock::now().time_since_epoch()).count();
    };
  }
  if (!options_.sink) options_.sink = [](const std::string& line) { spdlog::info("{}", line); };
  switch (options_.mode) {
    case Mode::kBar:
      bar_ = options_.out != nullptr;
      break;
    case Mode::kLines:
      bar_ = false;
      break;
    case Mode::kAuto:
      bar_ = options_.out && ::isatty(::fileno(options_.out));
      break;
  }
  done_ = std::max<int64_t>(0, options_.done_before);
  start_ = options_.clock();
  emit(true);
}

Progress::~Progress() {
  if (!finished_) finish();
}

void Progress::update(int64_t done, const std::string& note) {
  if (finished_) return;
  done_ = std::max<int64_t>(0, done);
  note_ = note;
  emit(false);
}

void Progress::advance(int64_t steps, const std::string& note) { update(done_ + steps, note); }

void Progress::finish(const std::string& note) {
  if (finished_) return;
  if (!note.empty()) note_ = note;
  emit(true);
  if (bar_) {
    std::fputc('\n', options_.out);
    std::fflush(options_.out);
  }
  finished_ = true;
}

void Progress::print(const std::string& line) {
  if (bar_ && !finished_) {
    // Over the bar's line, cleared, then the bar again on the next.
    std::fprintf(options_.out, "\r%s\033[K\n", line.c_str());
    emit(true);
  } else if (options_.out) {
    std::fprintf(options_.out, "%s\n", line.c_str());
    std::fflush(options_.out);
  } else {
    options_.sink(line);
  }
}

void Progress::emit(bool force) {
  double now = options_.clock();
  double gap = bar_ ? options_.redraw_seconds : options_.line_seconds;
  if (!force && now - last_emit_ < gap) return;
  if (!bar_ && done_ == emitted_done_ && note_ == emitted_note_) return;
  last_emit_ = now;
  emitted_done_ = done_;
  emitted_note_ = note_;
  std::string line = render(label_, done_, total_, now - start_, note_, bar_, options_.width,
                            options_.done_before);
  if (bar_) {
    // Back to the line's start, redraw, and clear what a longer previous line left.
    std::fprintf(options_.out, "\r%s\033[K", line.c_str());
    std::fflush(options_.out);
  } else {
    options_.sink(line);
  }
}

std::string Progress::format_duration(double seconds) {
  auto s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string Progress::render(const std::string& label, int64_t done, int64_t total, double elapsed,
                             const std::string& note, bool bar, int width, int64_t done_before) {
  std::string eta;
  const int64_t done_since = done - std::max<int64_t>(0, done_before);
  if (total > 0 && done >= total) {
    eta = "done";
  } else if (total > 0 && done_since > 0) {
    eta = "ETA " + format_duration(elapsed / static_cast<double>(done_since) *
                                   static_cast<double>(total - done));
  } else if (total > 0) {
    eta = "ETA -";
  }
  std::string out;
  if (bar) {
    out = label + " ";
    if (total > 0) {
      double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
      int filled = static_cast<int>(fraction * width + 1e-9);
      out += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
      out += fmt::format("{}/{} {:3.0f}% ", done, total, 100 * fraction);
    } else {
      out += fmt::format("{} ", done);
    }
    out += format_duration(elapsed);
    if (!eta.empty()) out += " " + eta;
    if (!note.empty()) out += "  " + note;
  } else {
    out = label + ": ";
    if (total > 0) {
      double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
      out += fmt::format("{}/{} ({:.0f}%)", done, total, 100 * fraction);
    } else {
      out += fmt::format("{}", done);
    }
    out += ", " + format_duration(elapsed) + " elapsed";
    if (!eta.empty()) out += ", " + eta;
    if (!note.empty()) out += ", " + note;
  }
  return out;
}

}  // namespace fp
