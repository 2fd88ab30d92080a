// libFuzzer harness: the model artifact container (common/models/artifact_format.h):
// lengths, hash, header JSON, spec, meta and tensor table, without torch.
#include <cstdio>
#include <cstdlib>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string problem = fp::fuzz::check_artifact(data, size);
  if (!problem.empty()) {
    std::fprintf(stderr, "fuzz_artifact: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
