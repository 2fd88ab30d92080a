// Catch2's main for the test suites. Each suite holds many test files, so every test case
// carries its file's name as a tag ([#test_prune]), as `-#` would give it: CTest selects a
// file's cases by it (tests/CMakeLists.txt), and so can a developer
// (`fp_tests "[#test_prune]"`).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "util/allocator.h"

int main(int argc, char* argv[]) {
  fp::tune_allocator();  // as every fineprune program does
  Catch::Session session;
  session.configData().filenamesAsTags = true;
  const int parsed = session.applyCommandLine(argc, argv);
  if (parsed != 0) return parsed;
  return session.run();
}
