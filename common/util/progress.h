// Progress of a long-running job (training, a campaign, a sweep): on a terminal a
// bar redrawn in place with the elapsed time and an ETA; elsewhere (a log file, CI)
// plain log lines at most every few seconds, so logs stay readable.
//
//   Progress progress("training", epochs);
//   for (...) progress.update(epoch, fmt::format("loss {:.4f}", loss));
//   progress.finish();
//
// The ETA assumes the remaining steps take as long as the ones so far (since it started).
// Not thread-safe: call it from one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace fp {

class Progress {
 public:
  enum class Mode { kAuto, kBar, kLines };  // kAuto: a bar when `out` is a terminal

  struct Options {
    Mode mode = Mode::kAuto;
    std::FILE* out = stderr;                       // where the bar is drawn
    std::function<void(const std::string&)> sink;  // where lines go (default: spdlog::info)
    double redraw_seconds = 0.1;                   // least time between bar redraws
    double line_seconds = 5.0;      // least time between lines (the first and last always show)
    int width = 30;                 // bar characters
    std::function<double()> clock;  // seconds; default: a steady clock (tests inject one)
    // Steps complete before it started (a resumed job): shown as done, and left out of the
    // ETA's pace, which is that of the steps done since.
    int64_t done_before = 0;
  };

  // Shows the starting state (options.done_before of `total`) at once.
  Progress(std::string label, int64_t total, Options options);
  Progress(std::string label, int64_t total) : Progress(std::move(label), total, Options()) {}
  ~Progress();  // finishes if finish() was not called
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` steps of `total` are complete; `note` is shown after the numbers.
  void update(int64_t done, const std::string& note = "");
  void advance(int64_t steps = 1, const std::string& note = "");
  // Draws the final state (ending the bar's line) and stops drawing.
  void finish(const std::string& note = "");
  // A line of its own, e.g. a warning: above the bar, which is redrawn below it; without a
  // bar, or once finished, written to `out` (to the sink when there is no `out`).
  void print(const std::string& line);

  bool bar() const { return bar_; }
  int64_t done() const { return done_; }

  // "7s", "3m05s", "2h04m".
  static std::string format_duration(double seconds);
  // One line of output: "label [#####.....] 3/10 30% 12s ETA 28s note" with a bar,
  // "label: 3/10 (30%), 12s elapsed, ETA 28s, note" without. A total <= 0 is unknown. The ETA
  // counts the steps done in `elapsed`: those past `done_before`.
  static std::string render(const std::string& label, int64_t done, int64_t total, double elapsed,
                            const std::string& note, bool bar, int width, int64_t done_before = 0);

 private:
  void emit(bool force);

  std::string label_;
  int64_t total_;
  Options options_;
  bool bar_ = false;
  bool finished_ = false;
  int64_t done_ = 0;
  std::string note_;
  double start_ = 0, last_emit_ = -1;
  int64_t emitted_done_ = -1;  // what the last line showed, so finish() does not repeat it
  std::string emitted_note_;
};

}  // namespace fp
