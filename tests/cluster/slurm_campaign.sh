#!/usr/bin/env bash
# A small fp-sim campaign through a real Slurm cluster on this machine: starts its own
# one-node cluster (scripts/slurm/local-cluster), submits scripts/slurm/fp-sim-campaign.sbatch
# with sbatch (the coordinator job, which submits the hosts as a job array), waits with
# squeue, and checks the job exit codes (the job completion log) and the SQLite store.
#   slurm_campaign.sh complete FP_SIM   # 4 array tasks, 40 individuals, all must succeed;
#                                       # then 3 tasks set failed run again in a new job
#                                       # (FP_SIM_RESUME=1 FP_SIM_RETRY_FAILED=1)
#   slurm_campaign.sh cancel FP_SIM     # scancel array task 1 mid-campaign: the others
#                                       # take its share over; nothing lost or doubled
#   slurm_campaign.sh requeue FP_SIM    # scontrol requeue the coordinator job mid-campaign:
#                                       # it goes on with its run (fp-sim run --resume) and a
#                                       # new host array; nothing lost or doubled
# Exit 77 (CTest: skipped) when Slurm, munge or root are missing, except under CI=true,
# where that is a failure. The daemons are stopped on every exit.
set -euo pipefail
export PATH=${PATH}:/usr/sbin:/sbin  # munged, slurmctld, slurmd

MODE=${1:?usage: slurm_campaign.sh complete|cancel|requeue FP_SIM}
FP_SIM=$(realpath "${2:?usage: slurm_campaign.sh complete|cancel|requeue FP_SIM}")
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TASKS=4
TIMEOUT=${FP_CLUSTER_TEST_TIMEOUT:-420}  # seconds for the whole campaign

missing=()
for cmd in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo srun sqlite3; do
  command -v "${cmd}" >/dev/null || missing+=("${cmd}")
done
[ "$(id -u)" -eq 0 ] || missing+=("root (the daemons run as root)")
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: CI=true but missing: ${missing[*]} (scripts/setup installs slurm-wlm and munge)"
    exit 1
  fi
  echo "SKIPPED: missing ${missing[*]} (scripts/setup installs slurm-wlm and munge)"
  exit 77
fi

WORK=$(mktemp -d /tmp/fp-cluster-test.XXXXXX)
CLUSTER=${WORK}/slurm
RUN=${WORK}/run
LOCAL_CLUSTER=${REPO}/scripts/slurm/local-cluster
failed=1
cleanup() {
  "${LOCAL_CLUSTER}" stop --dir "${CLUSTER}" || true
  if [ "${failed}" -eq 0 ]; then
    rm -rf "${WORK}"
  else
    echo "---- logs (kept in ${WORK}) ----"
    for f in "${RUN}"/logs/*.log "${CLUSTER}"/log/slurmctld.log; do
      [ -e "${f}" ] && { echo "== ${f}"; tail -n 25 "${f}"; }
    done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that the EXIT trap stops the daemons then too
fail() {
  echo "FAIL: $*"
  exit 1
}

# Ports of its own: another cluster (or another test) may hold the first ones tried.
port=$((20000 + ($$ % 400) * 20))
for _ in 1 2 3 4 5 6 7 8; do
  rc=0
  "${LOCAL_CLUSTER}" start --dir "${CLUSTER}" --port "${port}" || rc=$?
  [ "${rc}" -eq 3 ] || break
  port=$((port + 2))
done
[ "${rc}" -eq 0 ] || fail "local-cluster start exited with ${rc}"
export SLURM_CONF=${CLUSTER}/etc/slurm.conf

# The campaign: tests/cluster/campaign.toml (40 individuals, 4 external hosts).
INDIVIDUALS=$(sed -n 's/^individuals = \([0-9]*\).*/\1/p' "${REPO}/tests/cluster/campaign.toml")
cp "${REPO}/tests/cluster/campaign.toml" "${WORK}/cluster.toml"
if [ "${MODE}" != complete ]; then
  # Longer agents (more fine-tuning), so that a task is cancelled with work left.
  sed -i 's/^finetune_epochs = .*/finetune_epochs = 6/' "${WORK}/cluster.toml"
fi

cd "${REPO}"  # the scripts find their sibling from the submission directory
# One node: the hosts reach the coordinator on loopback, whatever the host name resolves to.
JOB=$(FP_SIM=${FP_SIM} FP_SIM_ADVERTISE=127.0.0.1 FP_SIM_HOST_MEM=1G sbatch --parsable --mem=2G --cpus-per-task=1 \
  --output="${WORK}/campaign-%j.log" scripts/slurm/fp-sim-campaign.sbatch \
  "${WORK}/cluster.toml" "${TASKS}" 1 "${RUN}")
JOB=${JOB%%;*}
echo "submitted coordinator job ${JOB}; run folder ${RUN}"

deadline=$((SECONDS + TIMEOUT))
until [ -s "${RUN}/hosts.jobid" ]; do
  [ "${SECONDS}" -lt "${deadline}" ] || fail "the coordinator job submitted no host array"
  sleep 1
done
ARRAY=$(cat "${RUN}/hosts.jobid")
echo "host array ${ARRAY}"

cancelled_at=""
if [ "${MODE}" = cancel ]; then
  # Cancel task 1 once at least one of its agents finished, before its share is done.
  until [ -s "${RUN}/hosts/1/finished.log" ]; do
    [ "${SECONDS}" -lt "${deadline}" ] || fail "host 1 finished no agent in time"
    sleep 0.2
  done
  [ ! -e "${RUN}/hosts/1.done" ] || fail "host 1 finished its share before it could be cancelled"
  scancel "${ARRAY}_1"
  cancelled_at=$(wc -l <"${RUN}/hosts/1/finished.log")
  echo "scancel ${ARRAY}_1 after ${cancelled_at} of its $((INDIVIDUALS / TASKS)) agents finished"
fi

if [ "${MODE}" = requeue ]; then
  # Requeued once an agent finished: the coordinator job starts again (SLURM_RESTART_COUNT)
  # and submits a new host array, cancelling the first.
  until [ -s "${RUN}/hosts/0/finished.log" ]; do
    [ "${SECONDS}" -lt "${deadline}" ] || fail "host 0 finished no agent in time"
    sleep 0.2
  done
  FIRST_ARRAY=${ARRAY}
  scontrol requeue "${JOB}" || fail "scontrol requeue ${JOB} failed"
  echo "scontrol requeue ${JOB} after $(cat "${RUN}"/hosts/*/finished.log | wc -l) agent(s) finished"
  # Slurm holds a requeued job back for about three minutes; the test starts it once the first
  # instance's batch step has ended on this node (started before, the job took the first
  # instance's completion for its own and ended with it).
  for _ in $(seq 1 300); do
    pgrep -f "slurmstepd: \[${JOB}\.batch\]" >/dev/null || break
    sleep 0.2
  done
  if ! pgrep -f "slurmstepd: \[${JOB}\.batch\]" >/dev/null; then
    sleep 2  # its completion message on its way to slurmctld
    scontrol update JobId="${JOB}" StartTime=now || true
  fi
  while [ "$(cat "${RUN}/hosts.jobid")" = "${FIRST_ARRAY}" ]; do
    [ "${SECONDS}" -lt "${deadline}" ] || fail "the requeued coordinator job submitted no new host array"
    sleep 1
  done
  ARRAY=$(cat "${RUN}/hosts.jobid")
  echo "new host array ${ARRAY}"
fi

active() { squeue -h -j "${JOB},${ARRAY}" -t PD,CF,R,CG,S -o '%i %T'; }
while [ -n "$(active)" ]; do
  [ "${SECONDS}" -lt "${deadline}" ] || { active; fail "the campaign did not end in ${TIMEOUT} s"; }
  sleep 2
done
squeue -t all -o '%.12i %.16j %.10T %.10M'

# Job states and exit codes, from the cluster's job completion log (what sacct --completion
# reads; sacct 22.05 prints array tasks from it by their raw ids, so it is read here).
job_states() {
  awk '{
    for (i = 1; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
    id = (f["ArrayTaskId"] != "" && f["ArrayJobId"] != "") ? f["ArrayJobId"] "_" f["ArrayTaskId"] : f["JobId"]
    print id "|" f["Name"] "|" f["JobState"] "|" f["ExitCode"]; delete f
  }' "${CLUSTER}/log/jobcomp.log" >"${WORK}/sacct.txt"
}
job_states
cat "${WORK}/sacct.txt"
expect_job() {  # expect_job ID STATE EXITCODE
  grep -qx "$1|[^|]*|$2|$3" "${WORK}/sacct.txt" || fail "job $1 did not end $2 with exit code $3"
}
expect_job "${JOB}" COMPLETED 0:0
for ((i = 0; i < TASKS; ++i)); do
  if [ "${MODE}" = cancel ] && [ "${i}" -eq 1 ]; then
    expect_job "${ARRAY}_${i}" CANCELLED '[0-9]*:[0-9]*'
  else
    expect_job "${ARRAY}_${i}" COMPLETED 0:0
  fi
done

# The store: every task done, exactly one telemetry row per (task, method).
DB=${RUN}/fp.db
q() { sqlite3 -batch -noheader "${DB}" "$1"; }
[ "$(q "SELECT status FROM sim_runs")" = "done" ] || fail "the run's status is $(q "SELECT status FROM sim_runs")"
campaigns=$(q "SELECT COUNT(*) FROM campaigns")
tasks=$(q "SELECT COUNT(*) FROM tasks")
[ "${tasks}" -eq $((INDIVIDUALS * campaigns)) ] || fail "${tasks} tasks for ${INDIVIDUALS} individuals x ${campaigns} campaign(s)"
[ "$(q "SELECT COUNT(*) FROM tasks WHERE status != 'done'")" -eq 0 ] ||
  fail "tasks not done: $(q "SELECT id, individual, status FROM tasks WHERE status != 'done'")"
methods=$(q "SELECT GROUP_CONCAT(method) FROM (SELECT DISTINCT method FROM telemetry ORDER BY method)")
[ "${methods}" = "fine_prune,finetune,svd" ] || fail "telemetry methods are '${methods}'"
doubled=$(q "SELECT task_id, method, COUNT(*) FROM telemetry GROUP BY task_id, method HAVING COUNT(*) != 1")
[ -z "${doubled}" ] || fail "telemetry rows not exactly once per (task, method): ${doubled}"
[ "$(q "SELECT COUNT(*) FROM telemetry")" -eq $((tasks * 3)) ] ||
  fail "$(q "SELECT COUNT(*) FROM telemetry") telemetry rows for ${tasks} tasks x 3 methods"
# Each individual's agent sent its rows (no agent reported for another).
[ "$(q "SELECT COUNT(*) FROM telemetry t JOIN tasks k ON k.id = t.task_id WHERE t.individual != k.individual")" -eq 0 ] ||
  fail "telemetry rows under another individual's task"

# Every task's log in the run folder; every share marked finished.
for f in coordinator host-0 host-1 host-2 host-3; do
  [ -s "${RUN}/logs/${f}.log" ] || fail "no log ${RUN}/logs/${f}.log"
done
for ((i = 0; i < TASKS; ++i)); do
  [ -e "${RUN}/hosts/${i}.done" ] || fail "share ${i} not marked finished"
done
if [ "${MODE}" = cancel ]; then
  [ -s "${RUN}/hosts/1.takeover/by" ] || fail "nobody took over share 1"
  [ "$(cat "${RUN}/hosts/1.takeover/by")" != "${ARRAY}_1" ] || fail "share 1 taken over by itself"
  twice=$(sort "${RUN}/hosts/1/finished.log" | uniq -d)
  [ -z "${twice}" ] || fail "agents of share 1 finished twice: ${twice}"
  echo "share 1 taken over by task $(cat "${RUN}/hosts/1.takeover/by")"
  grep -h "taking over share 1" "${RUN}"/logs/host-*.log
  echo "requeued tasks: $(q "SELECT COUNT(*) FROM events WHERE kind = 'requeue'")"
else
  ! ls -d "${RUN}"/hosts/*.takeover >/dev/null 2>&1 || fail "a share was taken over in a run without failures"
fi
if [ "${MODE}" = requeue ]; then
  grep -q "resuming the run (restart 1" "${RUN}/logs/coordinator.log" || fail "the requeued job did not say it resumed"
  attempts=$(q "SELECT json_array_length(stats_json, '\$.earlier_attempts') FROM sim_runs")
  [ "${attempts}" = 1 ] || fail "the run records ${attempts:-no} earlier attempt(s), not 1"
  [ "$(q "SELECT COUNT(*) FROM sim_runs")" -eq 1 ] || fail "the requeued job made a second run"
  for ((i = 0; i < TASKS; ++i)); do
    twice=$(sort "${RUN}/hosts/${i}/finished.log" | uniq -d)
    [ -z "${twice}" ] || fail "agents of share ${i} finished twice: ${twice}"
  done
  echo "requeued coordinator resumed: $(q "SELECT json_extract(stats_json, '\$.earlier_attempts[0].status') FROM sim_runs") attempt, then done"
fi

# fp-sim report reads the result.
"${FP_SIM}" report --db "${RUN}" >"${WORK}/report.txt" || fail "fp-sim report failed"
grep -q "^summary: ${INDIVIDUALS} individual(s), ${INDIVIDUALS} done, 0 failed" "${WORK}/report.txt" ||
  fail "fp-sim report does not sum up ${INDIVIDUALS} done individuals"
[ "$(grep -c '#[0-9]* .* done$' "${WORK}/report.txt")" -eq "${INDIVIDUALS}" ] ||
  fail "fp-sim report does not list ${INDIVIDUALS} done individuals"
tail -n 12 "${WORK}/report.txt"

# best_classes: the run recorded its pick in the scenario copy the hosts read, and every
# individual (as the hosts drew them) holds picked classes only.
pick=$(sed -n 's/^classes = \[\([0-9, ]*\)\].*/\1/p' "${RUN}/scenario.toml" | tr -d ' ')
[ "$(echo "${pick}" | tr ',' '\n' | grep -c .)" -eq 6 ] ||
  fail "the run folder's scenario.toml does not record 6 picked classes (got '${pick}')"
for c in $(grep -o 'classes=[0-9+]*' "${WORK}/report.txt" | cut -d= -f2 | tr '+' '\n' | sort -u); do
  echo ",${pick}," | grep -q ",${c}," || fail "an individual holds class ${c}, outside the pick ${pick}"
done
echo "best_classes pick ${pick}, honoured by every host"
if [ "${MODE}" = complete ]; then
  # Three tasks failed as a transient failure (a node out of memory) leaves them: failed, no
  # rows. A new job on the run folder with FP_SIM_RESUME=1 FP_SIM_RETRY_FAILED=1 runs them
  # again, and only them.
  q "DELETE FROM telemetry WHERE task_id IN (1, 2, 3);
     UPDATE tasks SET status = 'failed', error = 'out of memory' WHERE id IN (1, 2, 3)"
  RETRY=$(FP_SIM=${FP_SIM} FP_SIM_ADVERTISE=127.0.0.1 FP_SIM_HOST_MEM=1G FP_SIM_RESUME=1 \
    FP_SIM_RETRY_FAILED=1 sbatch --parsable --mem=2G --cpus-per-task=1 \
    --output="${WORK}/retry-%j.log" scripts/slurm/fp-sim-campaign.sbatch \
    "${WORK}/cluster.toml" "${TASKS}" 1 "${RUN}")
  RETRY=${RETRY%%;*}
  until [ "$(cat "${RUN}/hosts.jobid")" != "${ARRAY}" ]; do
    [ "${SECONDS}" -lt "${deadline}" ] || fail "the retrying job ${RETRY} submitted no host array"
    sleep 1
  done
  RETRY_ARRAY=$(cat "${RUN}/hosts.jobid")
  while [ -n "$(squeue -h -j "${RETRY},${RETRY_ARRAY}" -t PD,CF,R,CG,S -o %i)" ]; do
    [ "${SECONDS}" -lt "${deadline}" ] || fail "the retrying job did not end in time"
    sleep 2
  done
  grep -q "3 failed task(s) back in the queue" "${RUN}/logs/coordinator.log" ||
    fail "the retrying job did not put the 3 failed tasks back"
  job_states
  expect_job "${RETRY}" COMPLETED 0:0
  [ "$(q "SELECT COUNT(*) FROM tasks WHERE status != 'done'")" -eq 0 ] ||
    fail "tasks not done after the retry: $(q "SELECT id, status FROM tasks WHERE status != 'done'")"
  [ "$(q "SELECT COUNT(*) FROM telemetry")" -eq $((tasks * 3)) ] ||
    fail "$(q "SELECT COUNT(*) FROM telemetry") telemetry rows after the retry, not $((tasks * 3))"
  doubled=$(q "SELECT task_id, method, COUNT(*) FROM telemetry GROUP BY task_id, method HAVING COUNT(*) != 1")
  [ -z "${doubled}" ] || fail "telemetry rows not exactly once per (task, method) after the retry: ${doubled}"
  [ "$(q "SELECT COUNT(*) FROM events WHERE kind = 'retry'")" -eq 3 ] || fail "not 3 retry events"
  [ "$(q "SELECT status || ' ' || json_extract(stats_json, '\$.earlier_attempts[0].status') FROM sim_runs")" = "done done" ] ||
    fail "the run is not one done run with its done attempt kept"
  echo "retried 3 failed tasks with job ${RETRY} and host array ${RETRY_ARRAY}: every task done"
fi
echo "PASS: ${MODE}: ${tasks} task(s) done, $(q "SELECT COUNT(*) FROM telemetry") telemetry rows, jobs ${JOB} and ${ARRAY}"
failed=0
