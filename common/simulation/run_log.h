// fp-sim run's log file: while a run lasts, every log line of this process (the
// coordinator's and in-process agents' alike) goes to <out>/fp-sim.log.
#pragma once

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <string>

namespace fp::sim {

// Sends this run's log lines (coordinator and in-process agents alike) to a file and
// puts the previous logger back when done.
class LogToFile {
 public:
  LogToFile(const std::string& path, const std::string& level)
      : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
    auto logger = std::make_shared<spdlog::logger>("fp-sim-run", sink);
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

 private:
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace fp::sim
