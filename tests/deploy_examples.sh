#!/usr/bin/env bash
# A fleet's deployment files (docs/DEPLOY.md) work as shipped: `cmake --install` puts the
# programs, device_agent/examples/agent.toml and the systemd units (ExecStart naming the
# installed programs) in place; the installed fp-agent takes the example configuration
# (`--check`: the options, data folder (some files decoded), keys and work folder),
# refuses it naming what is wrong, and refuses `check` as a file key; the installed
# `fp-coordinator serve --check` says what a start of fleet.toml would do, refuses what a
# start would refuse, and changes nothing; a backup taken while it serves restores into an
# empty folder; and where
# systemd-analyze exists, both units verify without a warning.
#   deploy_examples.sh BUILD_DIR CMAKE_COMMAND
set -uo pipefail
BUILD=${1:?usage: deploy_examples.sh BUILD_DIR CMAKE_COMMAND}
CMAKE=${2:?}
WORK=$(mktemp -d /tmp/fp-deploy.XXXXXX)
trap '[ -n "${FP_KEEP_WORK:-}" ] || rm -rf "${WORK}"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

PREFIX=${WORK}/prefix
if ! "${CMAKE}" --install "${BUILD}" --prefix "${PREFIX}" >"${WORK}/install.log" 2>&1; then
  cat "${WORK}/install.log"
  echo "FAIL: cmake --install"
  exit 1
fi
SHARE=${PREFIX}/share/fineprune
AGENT=${PREFIX}/bin/fp-agent
for f in "${AGENT}" "${PREFIX}/bin/fp-coordinator" "${SHARE}/agent/agent.toml" \
  "${SHARE}/systemd/fp-agent.service" "${SHARE}/systemd/fp-coordinator.service"; do
  [ -e "${f}" ] || fail "not installed: ${f}"
done
for unit in fp-agent fp-coordinator; do
  want="ExecStart=${PREFIX}/bin/${unit}"
  grep -q "^${want} " "${SHARE}/systemd/${unit}.service" ||
    fail "${unit}.service does not start ${want}: $(grep ExecStart "${SHARE}/systemd/${unit}.service")"
done
[ "${failures}" -eq 0 ] || exit 1

# A device as the example configuration describes it, under WORK: a recording, its keys.
mkdir -p "${WORK}/data/memos" "${WORK}/keys"
python3 - "${WORK}/data/memos/hello.wav" <<'PY'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 3))) for i in range(4000)))
PY
"${AGENT}" keygen --key "${WORK}/keys/agent" >/dev/null 2>&1 || fail "fp-agent keygen"
cp "${WORK}/keys/agent.pub" "${WORK}/keys/coordinator.pub" # any public key reads as one
CONFIG=${SHARE}/agent/agent.toml
# The example's paths, under WORK: device DATA COORDINATOR_KEY [more arguments...]
device() {
  local data=$1 coordinator_key=$2
  shift 2
  echo --config "${CONFIG}" --data "${data}" --work-dir "${WORK}/work" --key "${WORK}/keys/agent" \
    --coordinator-key "${coordinator_key}" "$@"
}

# expect_of CODE "what it must say" command arguments...
expect_of() {
  local code=$1 want=$2
  shift 2
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "${rc}" -ne "${code}" ] || ! grep -qF -- "${want}" <<<"${out}"; then
    fail "$* -> exit ${rc}, expected ${code} and '${want}'; output:"
    echo "${out}" | tail -n 5
  else
    echo "ok: $* -> ${want}"
  fi
}
run_agent() { timeout 60 "${AGENT}" "$@"; }
# expect CODE "what it must say" fp-agent arguments...
expect() { expect_of "$1" "$2" run_agent "${@:3}"; }

KEY=${WORK}/keys/coordinator.pub
# (WORK has no spaces: mktemp's name.)
# shellcheck disable=SC2046
expect 0 "-> tcp://coordinator.example.org:5555 (CURVE, keys read) holding fsdd/device=" \
  $(device "${WORK}/data" "${KEY}" --check)
[ -e "${WORK}/work/agent.id" ] && fail "--check kept an agent id"
[ -e "${WORK}/work" ] && fail "--check made the work folder"
# shellcheck disable=SC2046
expect 0 "data: 1 file(s) in ${WORK}/data; 1 of 1 tried read as fsdd data" \
  $(device "${WORK}/data" "${KEY}" --check)
# What a start would refuse, --check refuses, naming it; it also reads some of the files.
mkdir -p "${WORK}/damaged-memos"
echo "not a recording" >"${WORK}/damaged-memos/memo.wav"
# shellcheck disable=SC2046
expect 2 "--data: none of the 1 file(s) tried of ${WORK}/damaged-memos could be read" \
  $(device "${WORK}/damaged-memos" "${KEY}" --check)
# shellcheck disable=SC2046
expect 2 "${WORK}/keys/none.pub" $(device "${WORK}/data" "${WORK}/keys/none.pub" --check)
# shellcheck disable=SC2046
expect 2 "--data: " $(device "${WORK}/nothing" "${KEY}" --check)
# shellcheck disable=SC2046
expect 2 "data folder ${WORK}/keys: no usable file" $(device "${WORK}/keys" "${KEY}" --check)
# `check` is for the command line: a file saying it would make every start a check.
{
  cat "${CONFIG}"
  echo "check = true"
} >"${WORK}/checking.toml"
# shellcheck disable=SC2046
expect 2 "unknown key 'check'" $(CONFIG=${WORK}/checking.toml device "${WORK}/data" "${KEY}")
expect 0 "Usage: ${AGENT} [OPTIONS]" --help

# The fleet end to end as the units run it, on a synthetic FSDD (tones, a pitch per digit):
# the coordinator from the installed fleet.toml in its working folder, the device from the
# installed agent.toml, each started by its unit's ExecStart line with this test's paths.
STATE=${WORK}/state # the coordinator's WorkingDirectory
mkdir -p "${STATE}" "${WORK}/fsdd/recordings" "${WORK}/owner"
python3 - "${WORK}/fsdd/recordings" "${WORK}/owner" <<'PY'
import math, os, struct, sys, wave
def tone(path, hz, phase):
    with wave.open(path, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * hz * i / 8000 + phase)))
                               for i in range(2400)))
for digit in range(10):
    for speaker in ("ann", "bob", "cyd", "dan"):
        for i in range(4):
            tone(os.path.join(sys.argv[1], f"{digit}_{speaker}_{i}.wav"), 200 + 90 * digit, i)
for i in range(24):  # the device owner's memos: three of the digits, unlabeled
    tone(os.path.join(sys.argv[2], f"memo-{i}.wav"), 200 + 90 * (i % 3), i)
PY
FLEET=${SHARE}/coordinator/fleet.toml
exec_start() { sed -n 's/^ExecStart=//p' "${SHARE}/systemd/$1.service"; }
read -ra serve <<<"$(exec_start fp-coordinator | sed "s#/etc/fineprune/coordinator.toml#${FLEET}#")"
read -ra agent <<<"$(exec_start fp-agent | sed "s#/etc/fineprune/agent.toml#${CONFIG}#")"
# fp-coordinator in the coordinator's working folder; `check` is serve --check on a free port
# (fleet.toml's endpoint is every interface's 5555, its dashboard 8080: maybe taken here).
coordinator() { (cd "${STATE}" && timeout 60 "${PREFIX}/bin/fp-coordinator" "$@"); }
check() {
  coordinator serve -c "${FLEET}" --check --endpoint "${ENDPOINT:-tcp://127.0.0.1:*}" \
    --http-port "${HTTP_PORT:-0}"
}
# What a start would refuse, serve --check refuses, changing nothing.
expect_of 2 "campaign 'fleet-speech': no model registered yet" check
[ -z "$(ls -A "${STATE}")" ] || fail "serve --check left files in an empty folder: $(ls -A "${STATE}")"
# A database or models folder a start could not make (a file in the way) is refused too.
echo "a file" >"${WORK}/in-the-way"
sed "s#^database = .*#database = \"${WORK}/in-the-way/fineprune.db\"#" "${FLEET}" >"${WORK}/unmakeable.toml"
expect_of 2 "database ${WORK}/in-the-way/fineprune.db cannot be made: ${WORK}/in-the-way is not a folder" \
  coordinator serve -c "${WORK}/unmakeable.toml" --check --endpoint "tcp://127.0.0.1:*" --http-port 0
sed "s#^models_dir = .*#models_dir = \"${WORK}/in-the-way/models\"#" "${FLEET}" >"${WORK}/unmakeable.toml"
expect_of 2 "models folder ${WORK}/in-the-way/models cannot be made" \
  coordinator serve -c "${WORK}/unmakeable.toml" --check --endpoint "tcp://127.0.0.1:*" --http-port 0
coordinator train -c "${FLEET}" --data-dir "${WORK}/fsdd" --epochs 2 >"${WORK}/train.log" 2>&1 ||
  fail "fp-coordinator train -c fleet.toml: $(tail -n 3 "${WORK}/train.log")"
"${AGENT}" keygen --key "${WORK}/keys/phone" >/dev/null 2>&1
coordinator enroll -c "${FLEET}" --key "${WORK}/keys/phone.pub" --name phone >/dev/null 2>&1 ||
  fail "fp-coordinator enroll -c fleet.toml"
# Two ports held by another program: the check binds what a start binds.
python3 -c '
import socket, sys, time
held = [socket.socket() for _ in range(2)]
for s in held: s.bind(("127.0.0.1", 0)); s.listen()
print(*(s.getsockname()[1] for s in held), flush=True)
time.sleep(120)' >"${WORK}/held" &
holder=$!
for _ in $(seq 100); do [ -s "${WORK}/held" ] && break; sleep 0.05; done
read -r zmq_port http_port <"${WORK}/held"
before=$(sha256sum "${STATE}/fineprune.db")
expect_of 0 "campaign 'fleet-speech' made at the start: model " check
expect_of 0 "(CURVE, key pair keys/coordinator made at the first start)" check
ENDPOINT=tcp://127.0.0.1:${zmq_port} expect_of 2 \
  "binding tcp://127.0.0.1:${zmq_port}: Address already in use" check
HTTP_PORT=${http_port} expect_of 2 "dashboard: cannot bind 127.0.0.1:${http_port}: Address already in use" check
kill "${holder}"
sed 's/^select_sparsity = true/select_sparsity = false/' "${FLEET}" >"${WORK}/edited.toml"
[ "$(sha256sum "${STATE}/fineprune.db")" = "${before}" ] || fail "serve --check changed the database"
[ -e "${STATE}/keys" ] && fail "serve --check made the key pair"
(cd "${STATE}" && exec "${serve[@]}" --endpoint "tcp://127.0.0.1:*" --http-port 0 \
  --endpoint-file "${WORK}/endpoint" >"${WORK}/serve.log" 2>&1) &
serving=$!
for _ in $(seq 300); do [ -s "${WORK}/endpoint" ] && break; sleep 0.1; done
if [ -s "${WORK}/endpoint" ]; then
  timeout 120 "${agent[@]}" --coordinator "$(cat "${WORK}/endpoint")" --data "${WORK}/owner" \
    --work-dir "${WORK}/phone" --key "${WORK}/keys/phone" \
    --coordinator-key "${STATE}/keys/coordinator.pub" --id phone --leave-when-done \
    >"${WORK}/agent.log" 2>&1
  rc=$?
  [ "${rc}" -eq 0 ] || fail "the device's unit command -> exit ${rc}: $(tail -n 5 "${WORK}/agent.log")"
  status=$(cd "${STATE}" && "${PREFIX}/bin/fp-coordinator" status -c "${FLEET}" 2>&1)
  grep -q "device=phone .*phone .*fine_prune" <<<"${status}" ||
    fail "no fine_prune row of device=phone in the fleet's status: ${status}"
  grep -q "campaign fleet-speech" <<<"${status}" || fail "no campaign fleet-speech: ${status}"
  # Beside the running service: a warning, the campaign resumed, its ports not tried.
  expect_of 0 "is served by a running coordinator now" check
  expect_of 0 "campaign 'fleet-speech' resumed (id 1, running: 1 of 1 task(s) ended)" check
  # Its key pair is not replaced under it (agents given the new .pub failed their handshake).
  before=$(cat "${STATE}/keys/coordinator.pub")
  expect_of 1 "key pair keys/coordinator is in use: a coordinator serves fineprune.db with it (fp-coordinator serve, pid" \
    coordinator keygen -c "${FLEET}" --force
  [ "$(cat "${STATE}/keys/coordinator.pub")" = "${before}" ] || fail "keygen --force replaced the served key pair"
  # A backup while it serves; no restore under it.
  expect_of 0 "1 model(s) in models/" coordinator backup -c "${FLEET}" --out "${WORK}/backup"
  expect_of 2 "--out: ${WORK}/backup exists" coordinator backup -c "${FLEET}" --out "${WORK}/backup"
  expect_of 1 "database fineprune.db is in use by another process (fp-coordinator serve" \
    coordinator restore -c "${FLEET}" --from "${WORK}/backup"
else
  fail "the coordinator's unit command wrote no endpoint: $(tail -n 5 "${WORK}/serve.log")"
fi
kill -TERM "${serving}"
wait "${serving}"
rc=$?
[ "${rc}" -eq 0 ] || fail "the coordinator stopped by SIGTERM -> exit ${rc}: $(tail -n 3 "${WORK}/serve.log")"
[ "${failures}" -eq 0 ] && echo "ok: a device on its own recordings, served from the example units and configurations"
expect_of 0 "(CURVE, key pair keys/coordinator read)" check
# The backup restored on a new machine's empty folder: the same campaign, results and key.
STATE_BEFORE=${STATE}
STATE=${WORK}/restored
mkdir -p "${STATE}"
expect_of 0 "restored fineprune.db from ${WORK}/backup: the database, 1 model(s), the key pair keys/coordinator" \
  coordinator restore -c "${FLEET}" --from "${WORK}/backup"
grep -q "device=phone .*phone .*fine_prune" <<<"$(coordinator status -c "${FLEET}" 2>&1)" ||
  fail "no fine_prune row of device=phone in the restored database's status"
cmp -s "${STATE}/keys/coordinator.pub" "${STATE_BEFORE}/keys/coordinator.pub" ||
  fail "the restored public key is not the coordinator's"
expect_of 0 "campaign 'fleet-speech' resumed (id 1, running: 1 of 1 task(s) ended)" check
# Restored over a database: what was there is kept aside, not lost.
expect_of 0 "kept aside: fineprune.db.before-restore-" coordinator restore -c "${FLEET}" --from "${WORK}/backup"
ls "${STATE}"/keys/coordinator.key.before-restore-* >/dev/null 2>&1 || fail "the replaced secret key was not kept aside"
# A damaged backup is refused before anything is replaced: its own model file is checked.
cp -r "${WORK}/backup" "${WORK}/damaged"
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' \
  "$(ls "${WORK}"/damaged/models/*.fpm)"
aside=$(ls "${STATE}" | grep -c before-restore)
expect_of 1 "--from: model file ${WORK}/damaged/models/" \
  coordinator restore -c "${FLEET}" --from "${WORK}/damaged"
[ "$(ls "${STATE}" | grep -c before-restore)" = "${aside}" ] || fail "a refused restore moved files aside"
# Restoring from the live folder moved its database and key pair aside, then failed to copy
# them: neither was left. Refused first, as is a models folder that cannot be one (it failed
# after the database was replaced).
expect_of 2 "the restore replaces: copy the backup to a folder of its own first" \
  coordinator restore -c "${FLEET}" --from "${STATE}"
sed 's/^models_dir = "models"/models_dir = "fineprune.db"/' "${FLEET}" >"${WORK}/models-file.toml"
expect_of 2 "server.models_dir fineprune.db is a file, not a folder" \
  coordinator restore -c "${WORK}/models-file.toml" --from "${WORK}/backup"
[ "$(ls "${STATE}" | grep -c before-restore)" = "${aside}" ] || fail "a refused restore moved files aside"
[ -s "${STATE}/keys/coordinator.key" ] || fail "a refused restore left no secret key"
# A --key that names no key pair: backups without it, night after night (it said so, exit 0).
expect_of 2 "--key: no key pair at keys/nokey" \
  coordinator backup -c "${FLEET}" --key keys/nokey --out "${WORK}/typo"
[ -e "${WORK}/typo" ] && fail "a refused backup made its folder"
expect_of 2 "--out is empty: name the backup folder" coordinator backup -c "${FLEET}" --out ""
# Restored under another key name: the backup's pair is found (it warned the backup held none).
STATE_KEYED=${WORK}/restored-keyed
mkdir -p "${STATE_KEYED}"
(cd "${STATE_KEYED}" && "${PREFIX}/bin/fp-coordinator" restore -c "${FLEET}" --key keys/other \
  --from "${WORK}/backup" >"${WORK}/keyed.log" 2>&1) || fail "restore --key keys/other: $(cat "${WORK}/keyed.log")"
cmp -s "${STATE_KEYED}/keys/other.pub" "${STATE_BEFORE}/keys/coordinator.pub" ||
  fail "restore --key keys/other did not put the backup's key pair there: $(cat "${WORK}/keyed.log")"
# A backup taken while a model file was away records it; restoring it (without a key pair, on
# a new machine) leaves that model out and says what the devices will need.
mkdir -p "${STATE}/away"
mv "${STATE}"/models/*.fpm "${STATE}/away/"
expect_of 1 "not in the backup: model " \
  coordinator backup -c "${FLEET}" --out "${WORK}/partial" --without-key
mv "${STATE}"/away/*.fpm "${STATE}/models/"
STATE=${WORK}/restored-again
mkdir -p "${STATE}"
restored=$(coordinator restore -c "${FLEET}" --from "${WORK}/partial" 2>&1) ||
  fail "restoring a backup that recorded a missing model: ${restored}"
grep -qF "the database, 0 model(s) (1 left out, as the backup recorded)" <<<"${restored}" ||
  fail "the restore did not say it left the model out: ${restored}"
grep -qF "the backup holds no key pair and there is none at keys/coordinator" <<<"${restored}" ||
  fail "the keyless restore on a new machine gave no warning: ${restored}"
STATE=${STATE_BEFORE}
expect_of 2 "campaign 'fleet-speech' already exists (id 1) with other settings than the config's: the personalization settings" \
  coordinator serve -c "${WORK}/edited.toml" --check
# An output named as the database (or a model) is refused, the file unchanged: export -o and
# serve's --endpoint-file replaced them.
db_sum=$(sha256sum "${STATE}/fineprune.db")
expect_of 1 "export fineprune.db is an SQLite database: not replaced" \
  coordinator export -c "${FLEET}" -o fineprune.db
expect_of 2 "--endpoint-file fineprune.db is an SQLite database: not replaced" \
  coordinator serve -c "${FLEET}" --endpoint-file fineprune.db
# Its -wal file holds its last commits: replaced, they were lost.
expect_of 1 "export fineprune.db-wal is the -wal file of the SQLite database fineprune.db" \
  coordinator export -c "${FLEET}" -o fineprune.db-wal
[ "$(sha256sum "${STATE}/fineprune.db")" = "${db_sum}" ] || fail "an output replaced the database"
# The dashboard on the endpoint's port: the check binds both together, as the start does (it
# said ready, and the start failed).
sed 's/^http_port = 8080/http_port = 5555/' "${FLEET}" >"${WORK}/same-port.toml"
expect_of 2 "cannot bind 127.0.0.1:5555" coordinator serve -c "${WORK}/same-port.toml" --check
# A file where the models folder goes: refused by the check (it said ready) and by train
# before it trains (it trained, then failed to store the model).
expect_of 2 "server.models_dir fineprune.db is a file, not a folder" \
  coordinator serve -c "${WORK}/models-file.toml" --check
expect_of 2 "server.models_dir fineprune.db is a file, not a folder" \
  coordinator train -c "${WORK}/models-file.toml"
# The start itself refuses it as a mistake in the configuration too (it exited 1, as for a
# refused start).
expect_of 2 "campaign 'fleet-speech' already exists (id 1) with other settings than the config's: the personalization settings" \
  coordinator serve -c "${WORK}/edited.toml"

if command -v systemd-analyze >/dev/null; then
  for unit in fp-agent fp-coordinator; do
    # Warnings (an unknown or out-of-range setting is ignored with one) fail it too.
    out=$(cd "${SHARE}/systemd" && systemd-analyze verify "./${unit}.service" 2>&1)
    rc=$?
    if [ "${rc}" -ne 0 ] || [ -n "${out}" ]; then
      fail "systemd-analyze verify ${unit}.service -> exit ${rc}: ${out}"
    else
      echo "ok: systemd-analyze verify ${unit}.service"
    fi
  done
else
  echo "systemd-analyze not found: the units' syntax is not checked here"
fi

if [ "${failures}" -ne 0 ]; then
  echo "${failures} failure(s)"
  exit 1
fi
echo "all passed"
