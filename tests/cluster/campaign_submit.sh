#!/usr/bin/env bash
# The campaign script (scripts/slurm/fp-sim-campaign.sbatch) without a cluster: sbatch and
# fp-sim are stand-ins on PATH. A refused host array stops it before any coordinator starts
# (set -e did not reach into the submission's $(...): the coordinator ran for hosts that never
# existed and was stopped a minute later); a folder as SCENARIO, a TASKS of many digits and
# a missing fp-sim-hosts.sbatch are refused before anything is submitted. local-cluster's
# env line is quoted, and only its start makes its folder.
set -uo pipefail
SBATCH=$(realpath "${1:?usage: campaign_submit.sh FP_SIM_CAMPAIGN_SBATCH}")
SCRIPTS=$(dirname "${SBATCH}")

WORK=$(mktemp -d /tmp/fp-campaign-submit.XXXXXX)
trap 'rm -rf "${WORK}"' EXIT
mkdir -p "${WORK}/bin"
printf 'name = "x"\n' >"${WORK}/scenario.toml"
# sbatch: refuses, as Slurm does a script it cannot open; records that it was asked.
cat >"${WORK}/bin/sbatch" <<'STANDIN'
#!/usr/bin/env bash
echo asked >>"${FAKE_WORK}/sbatch-calls"
echo "sbatch: error: Unable to open file fp-sim-hosts.sbatch" >&2
exit 1
STANDIN
# fp-sim: records that a coordinator was started (its --check finds nothing wrong).
cat >"${WORK}/bin/fp-sim" <<'STANDIN'
#!/usr/bin/env bash
for arg in "$@"; do [ "${arg}" = --check ] && exit 0; done
echo started >>"${FAKE_WORK}/coordinators"
STANDIN
chmod +x "${WORK}/bin/sbatch" "${WORK}/bin/fp-sim"
failures=0

# run_campaign ARGS...: the script as Slurm would run it; its output in ${WORK}/out.
run_campaign() {
  rm -f "${WORK}/sbatch-calls" "${WORK}/coordinators"
  PATH=${WORK}/bin:${PATH} FAKE_WORK=${WORK} SLURM_JOB_ID=41 SLURM_SUBMIT_DIR=${WORK} \
    FP_SIM_SCRIPTS=${SCRIPTS} timeout 60 bash "${SBATCH}" "$@" >"${WORK}/out" 2>&1
}
# expect CODE "text" (in the output or the run's coordinator log) what
expect() {
  local code=$1 want=$2 what=$3 rc=$4 text
  text=$(cat "${WORK}/out" "${WORK}"/run*/logs/coordinator.log 2>/dev/null)
  if [ "${rc}" -ne "${code}" ] || ! grep -qF -- "${want}" <<<"${text}"; then
    echo "FAIL: ${what}: exit ${rc}, expected ${code} and '${want}'; output:"
    echo "${text}" | tail -n 8
    failures=$((failures + 1))
  else
    echo "ok: ${what}"
  fi
}

run_campaign "${WORK}/scenario.toml" 2 1 "${WORK}/run1"
expect 1 "submitting the agent hosts' job array failed" "refused host array" $?
[ -e "${WORK}/coordinators" ] && { echo "FAIL: a coordinator started for no host"; failures=$((failures + 1)); }
[ -e "${WORK}/sbatch-calls" ] || { echo "FAIL: sbatch was never asked"; failures=$((failures + 1)); }

run_campaign "${WORK}" 2 1 "${WORK}/run2"
expect 2 "is not a readable file" "a folder as SCENARIO" $?
run_campaign "${WORK}/scenario.toml" 99999999999999999999 1 "${WORK}/run3"
expect 2 "TASKS must be a number from 1 to 1024" "TASKS of many digits" $?
rm -f "${WORK}/out"
PATH=${WORK}/bin:${PATH} FAKE_WORK=${WORK} SLURM_JOB_ID=41 SLURM_SUBMIT_DIR=${WORK} \
  timeout 60 bash "${SBATCH}" "${WORK}/scenario.toml" 2 1 "${WORK}/run4" >"${WORK}/out" 2>&1
expect 2 "fp-sim-hosts.sbatch is not there" "no scripts/slurm beside the submission" $?
[ -e "${WORK}/sbatch-calls" ] && { echo "FAIL: sbatch asked before the checks"; failures=$((failures + 1)); }

# fp-sim-hosts.sbatch given a folder that is no campaign's run: said at once (it waited
# FP_SIM_WAIT, 2 h by default).
SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_JOB_ID=7 timeout 20 bash "${SCRIPTS}/fp-sim-hosts.sbatch" \
  "${WORK}/no-run" >"${WORK}/out" 2>&1
expect 2 "is no campaign run folder (no hosts.count" "hosts given a wrong run folder" $?

# local-cluster: env's line survives a folder with a space (it split there after eval); an
# unknown action, status and env make no folder.
CLUSTER=${SCRIPTS}/local-cluster
eval "$("${CLUSTER}" env --dir "${WORK}/a cluster")"
[ "${SLURM_CONF}" = "${WORK}/a cluster/etc/slurm.conf" ] ||
  { echo "FAIL: local-cluster env gave SLURM_CONF=${SLURM_CONF}"; failures=$((failures + 1)); }
"${CLUSTER}" bogus --dir "${WORK}/c1" >/dev/null 2>&1
"${CLUSTER}" status --dir "${WORK}/c2" >/dev/null 2>&1 && { echo "FAIL: status of no cluster said 0"; failures=$((failures + 1)); }
for made in "a cluster" c1 c2; do
  [ -e "${WORK}/${made}" ] && { echo "FAIL: local-cluster made ${made}"; failures=$((failures + 1)); }
done

[ "${failures}" -eq 0 ] && echo PASS || { echo "${failures} failure(s)"; exit 1; }
