#!/usr/bin/env bash
# The host array's watcher (scripts/slurm/fp-sim-hosts.sbatch) without a cluster: srun and
# squeue are stand-ins on PATH. Host 0 of three finishes its share and watches the others:
#   share 1 finishes while host 0 asks for its task's state (its task writes the marker and
#           ends between host 0's first look at the marker and the query): not taken over;
#   share 2's task was cancelled with its share unfinished: taken over, run once, by host 0.
set -euo pipefail
SBATCH=$(realpath "${1:?usage: hosts_takeover.sh FP_SIM_HOSTS_SBATCH}")

WORK=$(mktemp -d /tmp/fp-hosts-takeover.XXXXXX)
trap 'rm -rf "${WORK}"' EXIT
RUN=${WORK}/run
mkdir -p "${RUN}/hosts" "${WORK}/bin"
echo "tcp://0.0.0.0:5555" >"${RUN}/coordinator.endpoint"
echo "127.0.0.1" >"${RUN}/coordinator.host"
echo 3 >"${RUN}/hosts.count"
touch "${RUN}/scenario.toml"

# srun: records which share it ran (the value after --host-index).
cat >"${WORK}/bin/srun" <<'EOF'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do
  [ "$1" = --host-index ] && echo "$2" >>"${FAKE_RUN}/shares-run"
  shift
done
EOF
# squeue -h -j ARRAY_J -t all -o %T: share 1's task finishes as it is asked (marker, then
# COMPLETED); share 2's task is CANCELLED without its marker.
cat >"${WORK}/bin/squeue" <<'EOF'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do
  [ "$1" = -j ] && job=$2
  shift
done
case "${job##*_}" in
  1) touch "${FAKE_RUN}/hosts/1.done"; echo COMPLETED ;;
  2) echo CANCELLED ;;
  *) echo "squeue stand-in: unexpected job ${job}" >&2; exit 1 ;;
esac
EOF
chmod +x "${WORK}/bin/srun" "${WORK}/bin/squeue"

out=${WORK}/host-0.log
PATH=${WORK}/bin:${PATH} FAKE_RUN=${RUN} SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_JOB_ID=7 \
  FP_SIM=/bin/true timeout 60 bash "${SBATCH}" "${RUN}" >"${out}" 2>&1 || {
  cat "${out}"
  echo "FAIL: the host script exited with an error"
  exit 1
}
cat "${out}"

fail() {
  echo "FAIL: $*"
  exit 1
}
[ "$(sort "${RUN}/shares-run" | tr '\n' ' ')" = "0 2 " ] ||
  fail "shares run: $(tr '\n' ' ' <"${RUN}/shares-run") (expected its own, 0, and the cancelled one, 2, once each)"
[ ! -e "${RUN}/hosts/1.takeover" ] || fail "share 1, finished while it was queried, was taken over"
[ "$(cat "${RUN}/hosts/2.takeover/by")" = 7_0 ] || fail "share 2's takeover is not recorded as task 7_0's"
for j in 0 1 2; do
  [ -e "${RUN}/hosts/${j}.done" ] || fail "share ${j} not marked finished"
done
grep -q "taking over share 2: its task 7_2 is CANCELLED" "${out}" || fail "no takeover message for share 2"
echo "PASS: the finished share left alone, the cancelled one taken over once"
