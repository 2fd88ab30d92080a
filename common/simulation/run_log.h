// fp-sim run's log file: while a run lasts, every log line of this process (the
// coordinator's and in-process agents' alike) goes to <out>/fp-sim.log, and its warnings
// and errors are counted (the first few kept) for the console.
#pragma once

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string>

#include "util/log_tally.h"

namespace fp::sim {

// Sends this run's log lines (coordinator and in-process agents alike) to a file and
// puts the previous logger back when done.
class LogToFile {
 public:
  // The first `keep` warnings or errors are kept for LogTally::take_new.
  LogToFile(const std::string& path, const std::string& level, size_t keep = 3)
      : previous_(spdlog::default_logger()), tally_(std::make_shared<LogTally>(keep)) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
    auto logger =
        std::make_shared<spdlog::logger>("fp-sim-run", spdlog::sinks_init_list{sink, tally_});
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    // Info lines too reach the file within a second: a user tails it while general models
    // train for minutes.
    spdlog::flush_every(std::chrono::seconds(1));
  }
  ~LogToFile() {
    spdlog::default_logger()->flush();
    spdlog::set_default_logger(previous_);
  }

  LogTally& tally() { return *tally_; }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<LogTally> tally_;
};

}  // namespace fp::sim
