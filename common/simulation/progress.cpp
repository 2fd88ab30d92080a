#include "simulation/progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace fp::sim {
namespace {

std::string clock_text(double seconds) {
  auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

}  // namespace

std::string format_eta(const ProgressState& s) {
  int64_t finished = s.done + s.failed;
  if (finished >= s.total && s.total > 0) return "eta 0:00";
  if (finished == 0 || s.elapsed_seconds <= 0) return "eta ?";
  double rate = static_cast<double>(finished) / s.elapsed_seconds;
  return "eta " + clock_text(static_cast<double>(s.total - finished) / rate);
}

std::string format_progress(const ProgressState& s, bool bar) {
  std::string out;
  if (bar) {
    constexpr int kWidth = 24;
    double share = s.total > 0 ? static_cast<double>(s.done + s.failed) / s.total : 0;
    int filled = static_cast<int>(std::floor(share * kWidth));
    out = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
  }
  out += fmt::format("{}/{} done, {} running, {} failed", s.done, s.total, s.running, s.failed);
  if (s.live_agents >= 0) {
    out += fmt::format(" | agents: {} connected, {} computing", s.live_agents, s.computing);
  }
  out += fmt::format(" | {} elapsed, {}", clock_text(s.elapsed_seconds), format_eta(s));
  return out;
}

void ProgressPrinter::update(const ProgressState& s) {
  if (interactive_) {
    std::string line = format_progress(s, true);
    size_t width = line.size();
    if (width < last_width_) line += std::string(last_width_ - width, ' ');
    last_width_ = width;
    std::fputs(("\r" + line).c_str(), out_);
    std::fflush(out_);
    return;
  }
  int64_t tenth = s.total > 0 ? (10 * (s.done + s.failed)) / s.total : 0;
  if (s.elapsed_seconds - last_line_ < interval_ && tenth == last_tenth_) return;
  last_line_ = s.elapsed_seconds;
  last_tenth_ = tenth;
  last_text_ = format_progress(s, false);
  std::fputs(("progress: " + last_text_ + "\n").c_str(), out_);
  std::fflush(out_);
}

void ProgressPrinter::finish(const ProgressState& s) {
  if (interactive_) {
    update(s);
    std::fputs("\n", out_);
  } else if (format_progress(s, false) != last_text_) {
    std::fputs(("progress: " + format_progress(s, false) + "\n").c_str(), out_);
  }
  std::fflush(out_);
}

}  // namespace fp::sim
