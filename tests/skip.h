// A test whose optional dependency is missing is reported *skipped* by CTest, never
// passed: it prints a marker line that every test's SKIP_REGULAR_EXPRESSION matches
// (tests/CMakeLists.txt) and returns. Under CI=true a dependency that scripts/setup
// installs must be present, so its absence fails the test instead.
//
//   if (chromium.empty()) return fp::testing::skip("chromium not installed", kFromSetup);
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <string>

namespace fp::testing {

enum class Dependency { kFromSetup, kOptional };  // installed by scripts/setup, or not
constexpr Dependency kFromSetup = Dependency::kFromSetup;
constexpr Dependency kOptional = Dependency::kOptional;

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

inline void skip(const std::string& reason, Dependency dependency) {
  // CTest runs most test files as one test (tests/CMakeLists.txt), where a skip would hide
  // the file's other results: only files listed in FP_TESTS_PER_CASE may skip.
  if (std::getenv("FP_TEST_WHOLE_FILE"))
    FAIL(reason << ": this case may be skipped, so its file must be listed in "
                   "FP_TESTS_PER_CASE (tests/CMakeLists.txt) to run one CTest test per case");
  if (dependency == kFromSetup && running_in_ci())
    FAIL(reason << " (CI=true, and scripts/setup installs it: run scripts/setup)");
  std::cout << "FP_TEST_SKIPPED: " << reason << std::endl;
}

}  // namespace fp::testing
