#!/usr/bin/env bash
# What LibTorch's OpenMP runtime (libgomp) reads, and how many times a program starts for it
# (common/util/openmp_policy.h): with OMP_WAIT_POLICY unset, fp-sim and fp-coordinator execute
# themselves again with the passive policy, except their commands that only read or query;
# with it set, as the test suite sets it, every program starts once and the value stands;
# fp-agent keeps libgomp's default. OMP_DISPLAY_ENV=VERBOSE makes libgomp print what it read
# as it loads, once per start (the passive policy is a spin count of 0; libgomp's default,
# which spins, prints 'PASSIVE' too, with a spin count of 300000).
#   openmp_policy.sh FP_SIM FP_COORDINATOR FP_AGENT
set -uo pipefail
FP_SIM=${1:?usage: openmp_policy.sh FP_SIM FP_COORDINATOR FP_AGENT}
FP_COORDINATOR=${2:?}
FP_AGENT=${3:?}
failures=0
default="OMP_WAIT_POLICY = 'PASSIVE' GOMP_SPINCOUNT = '300000'"
passive="OMP_WAIT_POLICY = 'PASSIVE' GOMP_SPINCOUNT = '0'"

# expect "start 1|start 2..." [VAR=value...] -- program args: libgomp read that, start by start.
expect() {
  local want=$1 vars=()
  shift
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  local got
  got=$(env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=VERBOSE "${vars[@]}" "$@" 2>&1 >/dev/null |
    grep -E "^ *(OMP_WAIT_POLICY|GOMP_SPINCOUNT) = " | sed -E "s/^ *//" | paste -d' ' - - |
    paste -s -d'|')
  if [ "${got}" = "${want}" ]; then
    echo "ok: ${vars[*]} $(basename "$1") ${*:2}: ${got}"
  else
    echo "FAIL: ${vars[*]} $* -> libgomp read '${got}', expected '${want}'"
    failures=$((failures + 1))
  fi
}

expect "${default}|${passive}" -- "${FP_SIM}" run --help
expect "${default}" -- "${FP_COORDINATOR}" status --help
expect "${passive}" OMP_WAIT_POLICY=PASSIVE -- "${FP_SIM}" run --help
expect "OMP_WAIT_POLICY = 'ACTIVE' GOMP_SPINCOUNT = '30000000000'" OMP_WAIT_POLICY=active -- \
  "${FP_COORDINATOR}" serve --help
expect "${default}" -- "${FP_AGENT}" --help
exit $((failures > 0))
