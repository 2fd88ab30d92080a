// Progress: the rendered text, ETA arithmetic, throttling of log lines and the
// bar's in-place redraw; LogTally, which feeds warnings to a console showing one; times as
// shown.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "util/clock.h"
#include "util/log_tally.h"
#include "util/progress.h"

using fp::Progress;

namespace {

// A clock the test moves by hand.
struct FakeClock {
  double now = 100;
  std::function<double()> fn() {
    return [this] { return now; };
  }
};

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

// A bar 4 characters wide drawn into `out` on `clock`.
Progress::Options bar_options(std::FILE* out, FakeClock& clock) {
  Progress::Options o;
  o.mode = Progress::Mode::kBar;
  o.out = out;
  o.width = 4;
  o.clock = clock.fn();
  return o;
}

}  // namespace

TEST_CASE("Progress formats durations", "[progress]") {
  CHECK(Progress::format_duration(0) == "0s");
  CHECK(Progress::format_duration(7.4) == "7s");
  CHECK(Progress::format_duration(59.6) == "1m00s");
  CHECK(Progress::format_duration(185) == "3m05s");
  CHECK(Progress::format_duration(2 * 3600 + 4 * 60 + 30) == "2h04m");
  CHECK(Progress::format_duration(-5) == "0s");
}

TEST_CASE("Progress renders counts and percentage and an ETA from the pace so far", "[progress]") {
  CHECK(Progress::render("training", 3, 10, 12, "loss 0.5", true, 10) ==
        "training [###.......] 3/10  30% 12s ETA 28s  loss 0.5");
  CHECK(Progress::render("training", 3, 10, 12, "loss 0.5", false, 10) ==
        "training: 3/10 (30%), 12s elapsed, ETA 28s, loss 0.5");
  CHECK(Progress::render("sweep", 0, 4, 1, "", false, 10) == "sweep: 0/4 (0%), 1s elapsed, ETA -");
  CHECK(Progress::render("sweep", 4, 4, 90, "", true, 4) == "sweep [####] 4/4 100% 1m30s done");
  CHECK(Progress::render("agents", 7, 0, 5, "", false, 10) == "agents: 7, 5s elapsed");
  // More steps than announced: the bar stays full and the ETA says done.
  CHECK(Progress::render("x", 12, 10, 5, "", true, 4) == "x [####] 12/10 100% 5s done");
}

TEST_CASE("A resumed job's progress counts its earlier steps as done, not in its pace",
          "[progress]") {
  // 30 of 40 done before; 2 more in the 4 s since: 2 s a step, 8 left. (Counting the 30 in
  // the pace said 0.1 s a step: ETA 1s.)
  CHECK(Progress::render("tasks", 32, 40, 4, "", false, 10, 30) ==
        "tasks: 32/40 (80%), 4s elapsed, ETA 16s");
  CHECK(Progress::render("tasks", 30, 40, 4, "", false, 10, 30) ==
        "tasks: 30/40 (75%), 4s elapsed, ETA -");
  FakeClock clock;
  std::vector<std::string> lines;
  Progress::Options o;
  o.mode = Progress::Mode::kLines;
  o.sink = [&](const std::string& l) { lines.push_back(l); };
  o.clock = clock.fn();
  o.done_before = 30;
  Progress p("tasks", 40, o);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "tasks: 30/40 (75%), 0s elapsed, ETA -");
  clock.now += 10;
  p.update(35);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1] == "tasks: 35/40 (88%), 10s elapsed, ETA 10s");
}

TEST_CASE("Progress lines are throttled with the first and last always shown", "[progress]") {
  FakeClock clock;
  std::vector<std::string> lines;
  Progress::Options o;
  o.mode = Progress::Mode::kLines;
  o.sink = [&](const std::string& l) { lines.push_back(l); };
  o.line_seconds = 5;
  o.clock = clock.fn();
  {
    Progress p("campaign", 4, o);
    CHECK_FALSE(p.bar());
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == "campaign: 0/4 (0%), 0s elapsed, ETA -");
    clock.now += 2;
    p.advance();  // 2 s after the last line: held back
    CHECK(lines.size() == 1);
    clock.now += 4;
    p.advance(1, "two");
    REQUIRE(lines.size() == 2);
    CHECK(lines[1] == "campaign: 2/4 (50%), 6s elapsed, ETA 6s, two");
    clock.now += 1;
    p.update(3);
    CHECK(lines.size() == 2);
    // Leaving the scope finishes: the held-back state is shown once.
  }
  REQUIRE(lines.size() == 3);
  CHECK(lines[2] == "campaign: 3/4 (75%), 7s elapsed, ETA 2s");

  lines.clear();
  Progress q("q", 2, o);
  clock.now += 10;
  q.update(2);
  q.finish();   // nothing new since the last line: not repeated
  q.update(1);  // after finish: ignored
  CHECK(lines == std::vector<std::string>{"q: 0/2 (0%), 0s elapsed, ETA -",
                                          "q: 2/2 (100%), 10s elapsed, done"});
}

TEST_CASE("Progress bar redraws one line in place and ends it on finish", "[progress]") {
  FakeClock clock;
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  Progress::Options o = bar_options(out, clock);
  o.redraw_seconds = 0.5;
  Progress p("epochs", 2, o);
  CHECK(p.bar());
  clock.now += 0.1;
  p.update(1);  // too soon after the first draw
  clock.now += 1;
  p.update(1, "loss 0.3");
  clock.now += 1;
  p.finish();
  std::string text = read_all(out);
  std::fclose(out);
  CHECK(text ==
        "\repochs [....] 0/2   0% 0s ETA -\033[K"
        "\repochs [##..] 1/2  50% 1s ETA 1s  loss 0.3\033[K"
        "\repochs [##..] 1/2  50% 2s ETA 2s  loss 0.3\033[K\n");
}

TEST_CASE("A line printed while a bar is drawn goes above it; the bar is redrawn below",
          "[progress]") {
  FakeClock clock;
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  Progress p("tasks", 2, bar_options(out, clock));
  clock.now += 1;
  p.print("warning: a host is late");
  p.finish();
  p.print("after the bar");
  std::string text = read_all(out);
  std::fclose(out);
  CHECK(text ==
        "\rtasks [....] 0/2   0% 0s ETA -\033[K"
        "\rwarning: a host is late\033[K\n"
        "\rtasks [....] 0/2   0% 1s ETA -\033[K"
        "\rtasks [....] 0/2   0% 1s ETA -\033[K\n"
        "after the bar\n");
}

TEST_CASE("Without a bar a printed line goes to the output, not among the progress lines",
          "[progress]") {
  std::FILE* out = std::tmpfile();
  std::vector<std::string> lines;
  Progress::Options o;
  o.mode = Progress::Mode::kLines;
  o.out = out;
  o.sink = [&](const std::string& l) { lines.push_back(l); };
  Progress p("job", 1, o);
  p.print("warning: slow");
  CHECK(read_all(out) == "warning: slow\n");
  CHECK(lines.size() == 1);  // the starting line only
  std::fclose(out);
}

TEST_CASE("LogTally counts warnings and errors and keeps the first few", "[progress]") {
  auto tally = std::make_shared<fp::LogTally>(2);
  spdlog::logger log("tally-test", tally);
  log.set_level(spdlog::level::debug);
  log.info("not counted");
  log.warn("first {}", 1);
  log.error("second");
  CHECK(tally->take_new() == std::vector<std::string>{"warning: first 1", "error: second"});
  CHECK(tally->take_new().empty());  // taken once
  log.warn("third");
  log.critical("fourth");
  CHECK(tally->take_new().empty());  // past the two kept
  const auto n = tally->counts();
  CHECK(n.warnings == 2);
  CHECK(n.errors == 2);
  CHECK(tally->not_kept() == 2);
}

TEST_CASE("Progress in auto mode draws no bar when the output is not a terminal", "[progress]") {
  std::FILE* out = std::tmpfile();
  std::vector<std::string> lines;
  Progress::Options o;
  o.out = out;
  o.sink = [&](const std::string& l) { lines.push_back(l); };
  Progress p("job", 1, o);
  p.update(1);
  p.finish();
  CHECK_FALSE(p.bar());
  CHECK(read_all(out).empty());
  CHECK(lines.size() == 2);
  std::fclose(out);
}

// fp-coordinator status printed local time without a zone (two machines' outputs disagreed,
// and an hour repeated at a daylight-saving change) and crashed on a stamp past what
// localtime takes (a damaged database's last_seen = 1e18: a segfault).
TEST_CASE("times are shown in UTC, and an impossible stamp as ?", "[progress]") {
  CHECK(fp::utc_time_text(0) == "1970-01-01 00:00:00 UTC");
  CHECK(fp::utc_time_text(1796612345.75) == "2026-12-07 02:59:05 UTC");
  CHECK(fp::utc_time_text(253402300799.0) == "9999-12-31 23:59:59 UTC");
  for (double bad : {1e18, -1.0, 253402300800.0, std::nan(""), HUGE_VAL})
    CHECK(fp::utc_time_text(bad) == "?");
}
