// What tests that run the real programs share: the programs' paths in the build tree,
// writing a config file, and waiting for a file another process writes.
#pragma once

#include <chrono>
#include <fstream>
#include <string>

#include "child_process.h"
#include "net_fixture.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace fp::testing {

inline const std::string kCoordinator = std::string(FP_BINARY_DIR) + "/coordinator/fp-coordinator";
inline const std::string kAgent = std::string(FP_BINARY_DIR) + "/device_agent/fp-agent";
inline const std::string kSim = std::string(FP_BINARY_DIR) + "/simulations/fp-sim";

inline void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// The file's text without its trailing newlines, once a line is complete (a writer
// ends it with '\n'); empty after `timeout`.
inline std::string wait_for_file(const std::string& path,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::string text;
  wait_until(
      [&] {
        text = read_file(path);
        return !text.empty() && text.back() == '\n';
      },
      timeout);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace fp::testing
