#!/bin/sh
# Stands in for a test whose tool was missing when CMake configured the build: CTest
# reports it skipped (SKIP_RETURN_CODE 77), with the reason in its output. Under CI=true
# a tool that scripts/setup installs must be there, so its absence fails the test.
#   missing_dependency.sh <installed by scripts/setup: yes|no> <reason>
if [ "$1" = yes ] && [ "${CI:-}" = true ]; then
  echo "FAILED: $2 (CI=true, and scripts/setup installs it: run scripts/setup)"
  exit 1
fi
echo "FP_TEST_SKIPPED: $2"
exit 77
