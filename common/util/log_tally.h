// LogTally: a spdlog sink that counts the warnings and errors logged and keeps the first
// few, so a program whose log goes to a file (fp-sim run: fp-sim.log) can show them on a
// console that otherwise shows only its progress.
//
//   auto tally = std::make_shared<LogTally>(/*keep=*/3);
//   logger->sinks().push_back(tally);
//   ...
//   for (const auto& line : tally->take_new()) progress.print(line);  // "warning: ..."
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace fp {

class LogTally : public spdlog::sinks::base_sink<std::mutex> {
 public:
  struct Counts {
    int64_t warnings = 0;
    int64_t errors = 0;  // error and critical
  };

  // Keeps the text of the first `keep` warnings or errors; counts every one.
  explicit LogTally(size_t keep);

  Counts counts();
  // The kept lines not yet taken, oldest first, each "warning: ..." or "error: ...".
  std::vector<std::string> take_new();
  // How many were counted but not kept (past `keep`).
  int64_t not_kept();

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  const size_t keep_;
  Counts counts_;
  size_t kept_ = 0;
  std::vector<std::string> fresh_;
};

}  // namespace fp
