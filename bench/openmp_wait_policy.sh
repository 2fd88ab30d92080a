#!/usr/bin/env bash
# How LibTorch's OpenMP wait policy changes general-model training time, on a quiet
# machine and with every core kept busy by other processes (busy loops standing in for
# other campaigns). fp-sim and fp-coordinator use PASSIVE unless OMP_WAIT_POLICY is set
# (common/util/openmp_policy.h); an empty value keeps libgomp's own default (spin a while,
# then sleep), which is what they used before (libgomp warns that it is invalid).
# docs/BENCHMARKS.md has the results.
#   bench/openmp_wait_policy.sh [scenario]   (default: the 2-epoch CNN of the shift-detector
#                                             development runs: 10,000 images, 2 threads)
set -euo pipefail
cd "$(dirname "$0")/.."
FP_SIM=${FP_SIM:-build/simulations/fp-sim}
SCENARIO=${1:-simulations/scenarios/paper/calibrated_shift_dev_fmnist_cnn.toml}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"; kill $(jobs -p) 2>/dev/null || true' EXIT
echo "| other busy processes | OMP_WAIT_POLICY | training (s) | loss |"
echo "|---:|---|---:|---|"
for busy in 0 "$(nproc)"; do
  pids=()
  for ((i = 0; i < busy; i++)); do (while :; do :; done) & pids+=($!); done
  for policy in "" PASSIVE; do
    OMP_WAIT_POLICY="$policy" "$FP_SIM" run "$SCENARIO" --out "$OUT/run" --fresh --quiet \
      --workers 1 > /dev/null
    line=$(grep -h 'trained on' "$OUT/run/fp-sim.log")
    seconds=$(sed -E 's/.*loss [0-9.]+, ([0-9.]+) s.*/\1/' <<< "$line")
    loss=$(sed -E 's/.*loss ([0-9.]+),.*/\1/' <<< "$line")
    echo "| $busy | ${policy:-(libgomp default)} | $seconds | $loss |"
  done
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}"
done
