// libFuzzer harness: the network frame decoder and validator (common/protocol) on
// arbitrary bytes, as the coordinator and the agent run them.
#include <cstdio>
#include <cstdlib>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string problem = fp::fuzz::check_frame(data, size);
  if (!problem.empty()) {
    std::fprintf(stderr, "fuzz_frame: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
