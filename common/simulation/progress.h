// Progress of a running campaign: a bar redrawn in place on a terminal, or a plain
// log line every few seconds when stdout is a file or a pipe (CI, Slurm logs).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace fp::sim {

struct ProgressState {
  int64_t total = 0, done = 0, failed = 0, running = 0;  // tasks, from SQLite
  int64_t live_agents = -1, computing = -1;              // -1: not known here
  double elapsed_seconds = 0;
};

// "eta 1:05" style estimate from the rate so far; "eta ?" before anything finished.
std::string format_eta(const ProgressState& s);
// One line: [#####.....] 120/1000 done, 8 running, 0 failed, ... (no newline).
std::string format_progress(const ProgressState& s, bool bar);

class ProgressPrinter {
 public:
  // `interactive`: redraw one line with '\r'; otherwise print a line every
  // `line_interval` seconds and whenever another tenth of the tasks is finished.
  ProgressPrinter(std::FILE* out, bool interactive, double line_interval = 5.0)
      : out_(out), interactive_(interactive), interval_(line_interval) {}
  void update(const ProgressState& s);
  void finish(const ProgressState& s);  // final line, then a newline

 private:
  std::FILE* out_;
  bool interactive_;
  double interval_;
  double last_line_ = -1e9;
  int64_t last_tenth_ = -1;
  size_t last_width_ = 0;
  std::string last_text_;  // the last line printed (plain mode)
};

}  // namespace fp::sim
