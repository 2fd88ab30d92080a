#!/usr/bin/env bash
# The campaign and host scripts (scripts/slurm/) against faults of a real cluster, without
# one: sbatch, squeue, scancel, srun and fp-sim are stand-ins on PATH (a helper's audit of the
# Slurm path, 7 Dec). Each case says what it guards against.
set -uo pipefail
SCRIPTS=$(realpath "${1:?usage: campaign_watchdog.sh SCRIPTS_SLURM_FOLDER}")
CAMPAIGN=${SCRIPTS}/fp-sim-campaign.sbatch
HOSTS=${SCRIPTS}/fp-sim-hosts.sbatch

WORK=$(mktemp -d /tmp/fp-campaign-watchdog.XXXXXX)
holder=""
trap '[ -z "${holder}" ] || { pkill -P "${holder}"; kill "${holder}"; } 2>/dev/null; rm -rf "${WORK}"' EXIT
mkdir -p "${WORK}/bin"
printf 'name = "x"\n' >"${WORK}/scenario.toml"

# fp-sim: `--check` fails with check-fails' text when that file exists; a run writes its
# endpoint file after FAKE_LISTEN_AFTER s, ends after FAKE_RUN_SECONDS more with FAKE_RC, and
# records a TERM.
cat >"${WORK}/bin/fp-sim" <<'STANDIN'
#!/usr/bin/env bash
endpoint=""
for ((i = 1; i <= $#; ++i)); do
  [ "${!i}" = --check ] && { [ -e "${FAKE_WORK}/check-fails" ] && { cat "${FAKE_WORK}/check-fails" >&2; exit 2; }; exit 0; }
  if [ "${!i}" = --endpoint-file ]; then j=$((i + 1)); endpoint=${!j}; fi
done
echo started >>"${FAKE_WORK}/coordinators"
trap 'echo terminated >>"${FAKE_WORK}/coordinators"; kill "${nap}" 2>/dev/null; exit 130' TERM
sleep "${FAKE_LISTEN_AFTER:-0}" & nap=$!
wait "${nap}"
echo "tcp://0.0.0.0:5555" >"${endpoint}"
sleep "${FAKE_RUN_SECONDS:-1}" & nap=$!
wait "${nap}"
exit "${FAKE_RC:-0}"
STANDIN
# sbatch --parsable: the first FAKE_SBATCH_OK calls give job ids 101, 102, ...; later ones
# fail as with a controller that is down.
cat >"${WORK}/bin/sbatch" <<'STANDIN'
#!/usr/bin/env bash
echo "$*" >>"${FAKE_WORK}/sbatch-calls"
n=$(wc -l <"${FAKE_WORK}/sbatch-calls")
[ "${n}" -le "${FAKE_SBATCH_OK:-9}" ] || { echo "sbatch: error: Unable to contact slurm controller (connect failure)" >&2; exit 1; }
echo $((100 + n))
STANDIN
# squeue: the controller down (ctld-down), no job left (squeue-empty), or the job alive.
cat >"${WORK}/bin/squeue" <<'STANDIN'
#!/usr/bin/env bash
if [ -e "${FAKE_WORK}/ctld-down" ]; then
  echo "slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2
  exit 1
fi
[ -e "${FAKE_WORK}/squeue-empty" ] && exit 0
echo RUNNING
STANDIN
cat >"${WORK}/bin/scancel" <<'STANDIN'
#!/usr/bin/env bash
echo "$*" >>"${FAKE_WORK}/scancel-calls"
STANDIN
# srun: records the share it ran.
cat >"${WORK}/bin/srun" <<'STANDIN'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do
  [ "$1" = --host-index ] && echo "$2" >>"${FAKE_WORK}/shares-run"
  shift
done
STANDIN
chmod +x "${WORK}"/bin/*
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
reset() { rm -f "${WORK}"/{sbatch-calls,scancel-calls,coordinators,check-fails,ctld-down,squeue-empty,shares-run}; }
# campaign RUN_DIR [env...]: the campaign script as Slurm runs it, looking every 0.1 s;
# its exit code in ${rc}, its own output in ${WORK}/out.
campaign() {
  local run=$1
  shift
  rc=0
  env PATH="${WORK}/bin:${PATH}" FAKE_WORK="${WORK}" SLURM_JOB_ID=41 SLURM_SUBMIT_DIR="${WORK}" \
    FP_SIM_SCRIPTS="${SCRIPTS}" FP_SIM=fp-sim FP_SIM_POLL=0.1 "$@" \
    timeout 60 bash "${CAMPAIGN}" "${WORK}/scenario.toml" 2 1 "${run}" >"${WORK}/out" 2>&1 || rc=$?
}
log_of() { cat "${WORK}/out" "$1/logs/coordinator.log" 2>/dev/null; }
calls() { [ -e "${WORK}/$1" ] && wc -l <"${WORK}/$1" || echo 0; }

# A controller unreachable for the whole run (squeue and sbatch failing): it says nothing of
# the hosts. It was taken for every host gone: the coordinator was stopped 30 s in.
reset
touch "${WORK}/ctld-down"
campaign "${WORK}/down" FAKE_RUN_SECONDS=2 FAKE_SBATCH_OK=1
if [ "${rc}" -eq 0 ] && ! grep -q terminated "${WORK}/coordinators" && [ "$(calls sbatch-calls)" -eq 1 ] &&
  ! log_of "${WORK}/down" | grep -q "stopping the coordinator"; then
  ok "an unreachable controller does not stop the campaign"
else
  fail "controller down: exit ${rc}, sbatch asked $(calls sbatch-calls) time(s); $(log_of "${WORK}/down" | tail -n 3)"
fi

# No host left while the coordinator still trains (hosts that gave up waiting): nothing is
# submitted again before it listens (the resubmission was spent during training).
reset
touch "${WORK}/squeue-empty"
campaign "${WORK}/training" FAKE_LISTEN_AFTER=2 FAKE_RUN_SECONDS=0.3
if [ "${rc}" -eq 0 ] && [ "$(calls sbatch-calls)" -eq 1 ]; then
  ok "no look at the hosts before the coordinator listens"
else
  fail "idle while training: exit ${rc}, sbatch asked $(calls sbatch-calls) time(s)"
fi

# A coordinator that dies (kill -9, out of memory): its host arrays are cancelled (they
# retried its endpoint for an hour), the campaign marked over, the way on named.
reset
campaign "${WORK}/killed" FAKE_RC=137 FAKE_RUN_SECONDS=0.3
if [ "${rc}" -eq 137 ] && [ "$(cat "${WORK}/scancel-calls" 2>/dev/null)" = 101 ] &&
  [ "$(cat "${WORK}/killed/campaign.done")" = 137 ] &&
  log_of "${WORK}/killed" | grep -qF "to go on with this run: FP_SIM_RESUME=1 sbatch"; then
  ok "a coordinator that dies cancels its hosts"
else
  fail "coordinator killed: exit ${rc}, scancel '$(cat "${WORK}/scancel-calls" 2>/dev/null)'; $(log_of "${WORK}/killed" | tail -n 3)"
fi

# scancel of the coordinator job (SIGTERM to the script): fp-sim run is stopped, the hosts
# cancelled, the campaign marked over.
reset
(campaign "${WORK}/cancelled" FAKE_RUN_SECONDS=30) &
for _ in $(seq 1 100); do [ -e "${WORK}/coordinators" ] && break; sleep 0.1; done
pkill -TERM -f "bash ${CAMPAIGN} ${WORK}/scenario.toml 2 1 ${WORK}/cancelled"
wait
if grep -q terminated "${WORK}/coordinators" 2>/dev/null && [ "$(cat "${WORK}/scancel-calls" 2>/dev/null)" = 101 ] &&
  [ -e "${WORK}/cancelled/campaign.done" ]; then
  ok "a cancelled coordinator job stops fp-sim and cancels its hosts"
else
  fail "coordinator job cancelled: fp-sim '$(tr '\n' ' ' <"${WORK}/coordinators" 2>/dev/null)', scancel '$(cat "${WORK}/scancel-calls" 2>/dev/null)'"
fi

# FP_SIM_RESUME=1 while another coordinator job holds the run folder: refused, nothing
# touched (it cancelled the live campaign's hosts and overwrote its files, ending it).
reset
live=${WORK}/live
mkdir -p "${live}/hosts"
touch "${live}/fp.db" "${live}/hosts/0.done"
echo 40 >"${live}/coordinator.jobid"
echo 50 >"${live}/hosts.jobid"
echo 2 >"${live}/hosts.count"
# (its output elsewhere: a sleep left holding the test's output kept CTest waiting)
flock "${live}/campaign.lock" sleep 60 >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 50); do flock -n "${live}/campaign.lock" true || break; sleep 0.1; done
campaign "${live}" FP_SIM_RESUME=1
pkill -P "${holder}" 2>/dev/null
kill "${holder}" 2>/dev/null
holder=""
if [ "${rc}" -eq 2 ] && grep -qF "is in use by another coordinator job (40)" "${WORK}/out" &&
  [ "$(calls scancel-calls)" -eq 0 ] && [ "$(calls sbatch-calls)" -eq 0 ] &&
  [ "$(cat "${live}/hosts.jobid")" = 50 ] && [ "$(cat "${live}/coordinator.jobid")" = 40 ] &&
  [ -e "${live}/hosts/0.done" ] && [ ! -e "${live}/campaign.done" ]; then
  ok "a second coordinator job on a run folder in use is refused, nothing touched"
else
  fail "second job: exit ${rc}, scancel $(calls scancel-calls), sbatch $(calls sbatch-calls); $(tail -n 2 "${WORK}/out")"
fi

# FP_SIM_RESUME=1 on a folder holding no run (a typo): refused (a new run started).
reset
campaign "${WORK}/no-such-run" FP_SIM_RESUME=1
if [ "${rc}" -eq 2 ] && grep -qF "holds no run to resume" "${WORK}/out" && [ ! -e "${WORK}/no-such-run" ]; then
  ok "resuming a folder without a run is refused"
else
  fail "resume of nothing: exit ${rc}; $(tail -n 2 "${WORK}/out")"
fi

# What would stop the run is found before a host array queues for nothing, and said in the
# job's own output.
reset
echo "error: bad.toml:2: not valid TOML" >"${WORK}/check-fails"
campaign "${WORK}/bad"
if [ "${rc}" -eq 2 ] && grep -qF "bad.toml:2: not valid TOML" "${WORK}/out" && [ "$(calls sbatch-calls)" -eq 0 ]; then
  ok "a run that cannot start is refused before its hosts are submitted"
else
  fail "failed check: exit ${rc}, sbatch asked $(calls sbatch-calls) time(s); $(tail -n 2 "${WORK}/out")"
fi

# host JOB_INDEX RUN: the host script as array task 0 of job 7; its exit code in ${rc}.
host() {
  rc=0
  env PATH="${WORK}/bin:${PATH}" FAKE_WORK="${WORK}" SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_JOB_ID=7 \
    FP_SIM=fp-sim FP_SIM_WAIT=20 timeout 30 bash "${HOSTS}" "$1" >"${WORK}/out" 2>&1 || rc=$?
}
# A host waiting for the endpoint while the controller does not answer: it waits on (it took
# the coordinator for gone and left).
reset
hrun=${WORK}/host-run
mkdir -p "${hrun}/hosts"
echo 1 >"${hrun}/hosts.count"
echo 41 >"${hrun}/coordinator.jobid"
echo localhost >"${hrun}/coordinator.host"
touch "${WORK}/ctld-down"
(sleep 1; echo "tcp://0.0.0.0:5555" >"${hrun}/coordinator.endpoint") &
host "${hrun}"
wait
if [ "${rc}" -eq 0 ] && [ "$(cat "${WORK}/shares-run" 2>/dev/null)" = 0 ]; then
  ok "a host waits on through a controller that does not answer"
else
  fail "host, controller down: exit ${rc}; $(tail -n 2 "${WORK}/out")"
fi
# The coordinator's node advertised under a name the hosts cannot resolve: said at once (the
# host retried for an hour, its log blaming the keys).
if command -v getent >/dev/null; then
  reset
  echo no-such-node.invalid >"${hrun}/coordinator.host"
  host "${hrun}"
  if [ "${rc}" -eq 1 ] && grep -qF "'no-such-node.invalid' (coordinator.host" "${WORK}/out" && [ ! -e "${WORK}/shares-run" ]; then
    ok "an advertised name that does not resolve is said at once"
  else
    fail "host, unresolvable name: exit ${rc}; $(tail -n 2 "${WORK}/out")"
  fi
fi

[ "${failures}" -eq 0 ] && echo PASS || { echo "${failures} failure(s)"; exit 1; }
