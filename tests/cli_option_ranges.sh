#!/usr/bin/env bash
# The programs refuse an option value out of range at their start, naming the option,
# with CLI11's validation exit code (105), instead of running on with it (fp-sim and
# fp-coordinator took a 0 or negative value for none; fp-agent failed later, task by task;
# fp-bench hung); values that parse but cannot work (an agent id the coordinator refuses, a
# missing labels file, a host index from the environment that is none) at their start with
# exit 2, before anything is made.
#   cli_option_ranges.sh PART FP_SIM FP_AGENT FP_BENCH FP_COORDINATOR
# PART is sim, hosts, agent or tools: CTest runs them as tests of their own, side by side
# (each start of a program is a LibTorch start, about a second of CPU).
set -uo pipefail
PART=${1:?usage: cli_option_ranges.sh sim|hosts|agent|tools FP_SIM FP_AGENT FP_BENCH FP_COORDINATOR}
FP_SIM=${2:?}
FP_AGENT=${3:?}
FP_BENCH=${4:?}
FP_COORDINATOR=${5:?}
REPO=$(cd "$(dirname "$0")/.." && pwd)
SCENARIO=${REPO}/simulations/scenarios/bench_1000.toml
WORK=$(mktemp -d /tmp/fp-cli-ranges.XXXXXX)
trap 'rm -rf "${WORK}"' EXIT
failures=0

# expect_exit CODE "what it must say" command...
expect_exit() {
  local code=$1 want=$2
  shift 2
  local out rc
  out=$(timeout 60 "$@" 2>&1)
  rc=$?
  if [ "${rc}" -ne "${code}" ] || ! grep -qF -- "${want}" <<<"${out}"; then
    echo "FAIL: $* -> exit ${rc}, expected ${code} and '${want}'; output:"
    echo "${out}" | head -n 5
    failures=$((failures + 1))
  else
    echo "ok: $* -> ${want}"
  fi
}

# An option CLI11 refuses while parsing (exit 105).
expect_refused() { expect_exit 105 "$@"; }

# fp-sim's run, demo, report and export, and the command words of every program; the demo
# model fp-agent then reads.
part_sim() {
  # A word naming no command is said to be one, with the commands (CLI11 said only "A subcommand
  # is required" of fp-coordinator's and fp-sim's); an option's value before it is no command.
  expect_exit 109 "'keys' is no command; the commands are: serve, train," "${FP_COORDINATOR}" keys
  expect_exit 109 "'kg' is no command; the commands are: serve," \
    "${FP_COORDINATOR}" --log-level debug kg
  expect_exit 109 "'rnu' is no command; the commands are: demo, run," "${FP_SIM}" rnu x.toml
  expect_exit 109 "'infos' is no command; the commands are: keygen, compact," \
    "${FP_AGENT}" --data "${WORK}" infos
  expect_exit 0 "Create the coordinator's CURVE key pair" \
    "${FP_COORDINATOR}" --log-level=debug keygen --help
  expect_refused "--individuals: must be at least 1, got 0" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run" --quiet --individuals 0
  expect_refused "--hosts: must be at least 1, got -1" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run" --quiet --hosts -1
  expect_refused "--http-port: Value 70000 not in range 0 to 65535" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run" --quiet --http-port 70000
  expect_refused "--workers: must be at least 1, got 0" \
    "${FP_SIM}" host --coordinator tcp://127.0.0.1:1 --scenario "${SCENARIO}" --workers 0
  # fp-sim run --check says what the run would do, with the flags' overrides, and makes nothing.
  expect_exit 0 "1 campaign(s), 1000 task(s); each task runs fine_prune, finetune, svd" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/checked" --check
  expect_exit 0 "1 campaign(s), 40 task(s); each task runs fine_prune, svd_macs" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/checked" --check --individuals 40 --methods svd_macs
  [ -e "${WORK}/checked" ] && { echo "FAIL: fp-sim run --check made its run folder"; failures=$((failures + 1)); }
  # One unlabeled sample per individual (eval_fraction = 0.999) was taken without a word.
  printf 'name = "few"\n[partition]\nindividuals = 3\nsamples = 40\neval_fraction = 0.999\n' \
    >"${WORK}/few.toml"
  expect_exit 0 "3 of 3 individual(s) hold fewer than 10 unlabeled adaptation samples (the fewest: 1" \
    "${FP_SIM}" run "${WORK}/few.toml" --out "${WORK}/checked" --check
  # More general samples than Fashion-MNIST's training split holds: --check said 60000 without
  # a word on the 10000000 asked for (the run's log said it).
  printf 'name = "many"\n[data]\ngeneral_samples = 10000000\n' >"${WORK}/many.toml"
  expect_exit 0 "trained on 60000 sample(s) (data.general_samples asks for 10000000: only these are there)" \
    "${FP_SIM}" run "${WORK}/many.toml" --out "${WORK}/checked" --check
  # fp-sim demo trained nothing with --epochs 0 and read every image with --train-samples 0.
  expect_refused "--epochs: must be at least 1, got 0" "${FP_SIM}" demo --epochs 0
  expect_refused "--train-samples: must be at least 1, got 0" "${FP_SIM}" demo --train-samples 0
  # More images than the training split holds: said, and trained on what there is (4 s).
  expect_exit 0 "--train-samples asks for 100000 images, but the training split holds 60000" \
    "${FP_SIM}" demo --train-samples 100000 --width 0.25 --epochs 1 --individuals 1 --samples 20 \
    --threads 1 --model "${WORK}/demo-general.fpm" --save-models "${WORK}/demo-models"
  # The demo's general model reads a device's files as fp-coordinator's and fp-sim run's do
  # (fp-agent predict refused it: "the model takes unspecified input").
  mkdir -p "${WORK}/pics"
  cp /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz "${WORK}/pics/"
  expect_exit 0 "10000 file(s) classified" \
    "${FP_AGENT}" predict --model "${WORK}/demo-general.fpm" --data "${WORK}/pics" --batch 1000
  # A labels file's problem names --labels beside --data (it named --data alone).
  printf 'nothing here\n' >"${WORK}/bad-labels.csv"
  expect_exit 1 "--data ${WORK}/pics --labels ${WORK}/bad-labels.csv: Invalid argument: the labels file" \
    "${FP_AGENT}" personalize --model "${WORK}/demo-general.fpm" --out "${WORK}/p.fpm" \
    --data "${WORK}/pics" --labels "${WORK}/bad-labels.csv"
  # A folder with no file to read is the files' problem (1), as damaged files are; it was 2, a
  # mistake in the options, as a --data naming no folder still is.
  rm -rf "${WORK}/pics" && mkdir -p "${WORK}/pics"
  expect_exit 1 "--data: Invalid argument: data folder ${WORK}/pics: no usable file" \
    "${FP_AGENT}" personalize --model "${WORK}/demo-general.fpm" --out "${WORK}/p.fpm" \
    --data "${WORK}/pics"
  rmdir "${WORK}/pics"  # later checks read ${WORK} as a device's folder of one picture
  expect_exit 2 "--data: " \
    "${FP_AGENT}" personalize --model "${WORK}/demo-general.fpm" --out "${WORK}/p.fpm" \
    --data "${WORK}/pics"
  # The method's words are read before the training (a typo was found a minute later); a negative
  # --target was taken as none given.
  expect_exit 2 "--criterion: unknown criterion 'bogus'" "${FP_SIM}" demo --criterion bogus
  expect_exit 2 "--selector: " "${FP_SIM}" demo --selector bogus
  expect_refused "--target: must be in [0, 1), got -0.2" "${FP_SIM}" demo --target -0.2
  # A --model that exists is loaded: an --arch or --width beside it that it is not was ignored.
  expect_exit 2 "is a cnn model, but --arch mlp was given" \
    "${FP_SIM}" demo --model "${WORK}/demo-general.fpm" --arch mlp
  expect_exit 2 "has width 0.25, but --width 0.5 was given" \
    "${FP_SIM}" demo --model "${WORK}/demo-general.fpm" --width 0.5
  saved=$(ls "${WORK}"/demo-models/*.fpm | head -n 1)
  "${FP_AGENT}" compact --model "${saved}" --out "${WORK}/demo-compact.fpm" >/dev/null 2>&1
  expect_exit 2 "is a personalized model (compact: its pruned units are gone)" \
    "${FP_SIM}" demo --model "${WORK}/demo-compact.fpm"
  # spdlog reads any word it does not know as "off": a misspelt level silenced the log.
  expect_refused "--log-level: 'loud' is no log level" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run" --quiet --log-level loud
  expect_refused "--log-level: 'verbose' is no log level" \
    "${FP_SIM}" host --coordinator tcp://127.0.0.1:1 --scenario "${SCENARIO}" --log-level verbose
  # A number past 64 bits was read as the largest one (CLI11 2.1): run 9223372036854775807, seed
  # 18446744073709551615.
  expect_refused "--run: '99999999999999999999' is out of range (at most 9223372036854775807)" \
    "${FP_SIM}" report --db "${WORK}/none.db" --run 99999999999999999999
  expect_refused "--seed: '99999999999999999999999' is out of range (at most 18446744073709551615)" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/checked" --check --seed 99999999999999999999999
  expect_refused "--limit: '99999999999999999999' is out of range" \
    "${FP_COORDINATOR}" train --limit 99999999999999999999
  # A negative run id exported the latest run as if asked for it.
  expect_refused "--run: must be at least 0, got -5" \
    "${FP_SIM}" export --db "${WORK}/none.db" --run -5
}

# fp-sim host, and what fp-sim run binds and writes.
part_hosts() {
  expect_exit 2 "\$FP_HOST_INDEX='two' is not a host index" \
    env FP_HOST_INDEX=two "${FP_SIM}" host --coordinator tcp://127.0.0.1:1 --scenario "${SCENARIO}" \
    --work-dir "${WORK}/agent"
  printf 'x' >"${WORK}/a-file"
  expect_exit 2 "--stats-file ${WORK}/a-file/host.json: its folder ${WORK}/a-file cannot be made" \
    "${FP_SIM}" host --coordinator tcp://127.0.0.1:1 --scenario "${SCENARIO}" --host-index 0 \
    --stats-file "${WORK}/a-file/host.json" --work-dir "${WORK}/agent"
  # A host's endpoint and work folder: it started every agent, each then failing ("no transport",
  # "creating ...: Not a directory").
  expect_exit 2 "--coordinator: endpoint 'garbage': no transport" \
    "${FP_SIM}" host --coordinator garbage --scenario "${SCENARIO}" --host-index 0
  expect_exit 2 "--work-dir: ${WORK}/a-file is not a folder" \
    "${FP_SIM}" host --coordinator tcp://127.0.0.1:1 --scenario "${SCENARIO}" --host-index 0 \
    --work-dir "${WORK}/a-file"
  # A file where the models go: a filesystem exception after the training.
  expect_exit 2 "--save-models ${WORK}/a-file is a file, not a folder" \
    "${FP_SIM}" demo --save-models "${WORK}/a-file" --individuals 1
  # What a run binds, tried by its check (it said ready; the run failed after its training): an
  # ipc:// path in a missing folder, a dashboard port another program holds.
  printf 'name = "ipc"\n[hosting]\nendpoint = "ipc://%s/none/x.ipc"\n' "${WORK}" >"${WORK}/ipc.toml"
  expect_exit 2 "hosting.endpoint: binding ipc://${WORK}/none/x.ipc: No such file or directory" \
    "${FP_SIM}" run "${WORK}/ipc.toml" --out "${WORK}/run-ipc" --check
  python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "${WORK}/port" &
  port_holder=$!
  for _ in $(seq 100); do [[ -s "${WORK}/port" ]] && break; sleep 0.1; done
  expect_exit 2 "--http-port: dashboard: cannot bind 127.0.0.1:$(cat "${WORK}/port")" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run-port" --http-port "$(cat "${WORK}/port")" --check
  # The run itself tries it before training too (it failed after, recorded failed): nothing made.
  expect_exit 2 "hosting.endpoint: binding tcp://127.0.0.1:$(cat "${WORK}/port")" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run-port" --endpoint "tcp://127.0.0.1:$(cat "${WORK}/port")"
  [ -e "${WORK}/run-port" ] && { echo "FAIL: a run refused for its port made its folder"; failures=$((failures + 1)); }
  kill "${port_holder}"
  wait "${port_holder}" 2>/dev/null
  # The endpoint file Slurm hosts wait on, where it cannot be written: found once the run
  # listened, an error logged and the run going on (its hosts waiting for ever).
  expect_exit 2 "--endpoint-file ${WORK}/a-file/endpoint cannot be made: ${WORK}/a-file is not a folder" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run-ep" --endpoint-file "${WORK}/a-file/endpoint"
  # Named as the run folder itself, or below a file: --check said ready; the run made the
  # folder, said "cannot write the endpoint file" and exited 0.
  expect_exit 2 "--endpoint-file ${WORK}/run-ep2 is the run folder; name a file" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/run-ep2" --endpoint-file "${WORK}/run-ep2" --check
  expect_exit 2 "--out ${WORK}/a-file/run cannot be made: ${WORK}/a-file is not a folder" \
    "${FP_SIM}" run "${SCENARIO}" --out "${WORK}/a-file/run" --check
  # "" (an unset shell variable) was taken as not given: --out "" --fresh started runs/<name>
  # over, --report "" wrote no report, both exit 0.
  for option in --out --report --endpoint-file; do
    expect_refused "${option}: must not be empty" "${FP_SIM}" run "${SCENARIO}" "${option}" "" --check
  done
  # A host whose coordinator is gone ends after --give-up-after (it retried for ever, holding
  # a Slurm or Kubernetes allocation); a word that is no duration is refused.
  sed 's/^security = "curve"/security = "plain"/' "${REPO}/simulations/scenarios/smoke.toml" \
    >"${WORK}/plain.toml"
  expect_exit 1 "s (give-up-after 2 s): giving up; 0 unacknowledged message(s) lost (kept in memory only" \
    "${FP_SIM}" host --coordinator tcp://127.0.0.1:1 --scenario "${WORK}/plain.toml" \
    --individuals 2 --give-up-after 2s --work-dir "${WORK}/gone-host"
  expect_exit 2 "--give-up-after: 'soon' is not a duration" \
    "${FP_SIM}" host --coordinator tcp://127.0.0.1:1 --scenario "${WORK}/plain.toml" \
    --give-up-after soon
  # A previous run's endpoint file is removed once the run holds its folder: hosts waiting for
  # the file (Slurm, Kubernetes) took it for this run's and met no coordinator there (~10 s).
  echo "tcp://stale-host:1" >"${WORK}/endpoint"
  expect_exit 0 "" "${FP_SIM}" run "${REPO}/simulations/scenarios/smoke.toml" --out "${WORK}/run-stale" \
    --quiet --individuals 2 --endpoint-file "${WORK}/endpoint"
  if ! grep -qF "removed ${WORK}/endpoint, a previous run's endpoint file" "${WORK}/run-stale/fp-sim.log" ||
    grep -q stale-host "${WORK}/endpoint"; then
    echo "FAIL: a previous run's endpoint file was not replaced: $(cat "${WORK}/endpoint")"
    failures=$((failures + 1))
  fi
  # A run stopped in its set-up after SQLite made fp.db, before anything was stored (a full
  # disk, a kill): --resume called it a coordinator's database, a rerun and --fresh refused it
  # as another program's ("nothing deleted"), and only deleting the folder by hand went on.
  mkdir -p "${WORK}/run-stopped"
  python3 -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')" \
    "${WORK}/run-stopped/fp.db"
  expect_exit 2 "run-stopped holds a run that stopped in its set-up, before it stored anything: nothing to resume; start it over with --fresh" \
    "${FP_SIM}" run --resume --out "${WORK}/run-stopped" --quiet
  expect_exit 1 "run-stopped holds a run that stopped in its set-up, before it stored anything: start it over with --fresh" \
    "${FP_SIM}" run "${REPO}/simulations/scenarios/smoke.toml" --out "${WORK}/run-stopped" --quiet --individuals 2
  expect_exit 0 "results: ${WORK}/run-stopped/fp.db" \
    "${FP_SIM}" run "${REPO}/simulations/scenarios/smoke.toml" --out "${WORK}/run-stopped" --quiet --individuals 2 --fresh
  # A backup whose model copy cannot be written (a full disk, as a file size limit between the
  # database copy's size and the model's): it recorded the model as left out, renamed its
  # folder to a whole backup's name, and restore took it without the model.
  sed 's/^width_mult = 0.25/width_mult = 1.0/' "${REPO}/simulations/scenarios/smoke.toml" \
    >"${WORK}/wide.toml"
  expect_exit 0 "" "${FP_SIM}" run "${WORK}/wide.toml" --out "${WORK}/run-wide" --quiet --individuals 2
  expect_exit 1 "model copy ${WORK}/backup-full.partial-" \
    bash -c 'trap "" XFSZ; ulimit -f 300; exec "$0" backup --db "$1/fp.db" --models-dir "$1/models" --without-key --out "$2"' \
    "${FP_COORDINATOR}" "${WORK}/run-wide" "${WORK}/backup-full"
  if compgen -G "${WORK}/backup-full*" >/dev/null; then
    echo "FAIL: a backup that could not copy its model left $(ls -d "${WORK}"/backup-full*)"
    failures=$((failures + 1))
  fi
  # A backup killed before it was whole leaves <name>.partial-<pid>: restore took one whose
  # files happened to be there.
  expect_exit 0 "1 model(s) in models/" "${FP_COORDINATOR}" backup --db "${WORK}/run-wide/fp.db" \
    --models-dir "${WORK}/run-wide/models" --without-key --out "${WORK}/backup-whole"
  mv "${WORK}/backup-whole" "${WORK}/backup-whole.partial-4242"
  expect_exit 2 "--from: ${WORK}/backup-whole.partial-4242/ is a backup that was stopped before it was whole" \
    "${FP_COORDINATOR}" restore --db "${WORK}/restored/fp.db" --models-dir "${WORK}/restored/models" \
    --from "${WORK}/backup-whole.partial-4242/"
  [ -e "${WORK}/restored" ] && { echo "FAIL: a refused restore made ${WORK}/restored"; failures=$((failures + 1)); }
  # The next backup to that name removes what a stopped one left (its process gone): nothing
  # else did, a folder a night.
  (:) &
  dead=$!
  wait "${dead}"
  mv "${WORK}/backup-whole.partial-4242" "${WORK}/backup-whole.partial-${dead}"
  expect_exit 0 "removed ${WORK}/backup-whole.partial-${dead}, left by a backup that was stopped" \
    "${FP_COORDINATOR}" backup --db "${WORK}/run-wide/fp.db" --models-dir "${WORK}/run-wide/models" \
    --without-key --out "${WORK}/backup-whole"
  [ -e "${WORK}/backup-whole.partial-${dead}" ] && { echo "FAIL: backup-whole.partial-${dead} left"; failures=$((failures + 1)); }
  # One it cannot write once it listens: the run said so and exited 0 (its hosts waited); a
  # device is written as it is (the run removed /dev/full as a previous run's file).
  expect_exit 1 "error: IO error: writing --endpoint-file /dev/full: No space left on device" \
    "${FP_SIM}" run "${REPO}/simulations/scenarios/smoke.toml" --out "${WORK}/run-full" \
    --quiet --individuals 2 --endpoint-file /dev/full
  # The coordinator wrote a scratch file beside /dev/full and renamed it over the device.
  expect_exit 1 "coordinator failed: IO error: writing --endpoint-file /dev/full: No space left" \
    "${FP_COORDINATOR}" serve --plain --db "${WORK}/full.db" --endpoint "tcp://127.0.0.1:*" \
    --endpoint-file /dev/full
  # An export to a standard output it cannot write (a full disk): exit 1 without a word before.
  expect_exit 1 "export: cannot write to standard output: No space left on device" \
    bash -c 'exec "$0" export --db "$1" >/dev/full' "${FP_COORDINATOR}" "${WORK}/run-wide/fp.db"
  if [ ! -c /dev/full ]; then
    echo "FAIL: /dev/full is no longer a device: $(ls -l /dev/full)"
    failures=$((failures + 1))
  fi
  expect_exit 1 "--campaign 7: Not found" \
    "${FP_BENCH}" dashboard_api --db "${WORK}/run-stale/fp.db" --campaign 7
}

# fp-agent as a device.
part_agent() {
  agent=("${FP_AGENT}" --plain --individual classes=0+9 --dataset fashion-mnist
    --coordinator tcp://127.0.0.1:1 --work-dir "${WORK}/agent")
  expect_refused "--eval-fraction: must be in (0, 1), got 2" "${agent[@]}" --eval-fraction 2
  expect_refused "--resend-ms: must be 1 to 86400000, got 0" "${agent[@]}" --resend-ms 0
  # libzmq's handshake interval is an int of milliseconds: --check said ready, the start failed.
  expect_refused "--hello-timeout-ms: must be 1 to 86400000, got 2147483648" \
    "${agent[@]}" --hello-timeout-ms 2147483648 --check
  expect_refused "--log-level: 'warnings' is no log level" "${agent[@]}" --log-level warnings
  # Each missing key names its own fix: the coordinator's is copied, not made (both said
  # "create a key pair with 'fp-agent keygen'").
  "${FP_AGENT}" keygen --key "${WORK}/keys/agent" >/dev/null
  expect_exit 2 "--coordinator-key is the coordinator's public key: copy its .pub file" \
    "${FP_AGENT}" --key "${WORK}/keys/agent" --coordinator-key "${WORK}/keys/none.pub" \
    --individual classes=0+9 --dataset fashion-mnist --work-dir "${WORK}/agent-keys" \
    --coordinator tcp://127.0.0.1:1 --check
  expect_exit 2 "create this agent's key pair with 'fp-agent keygen --key ${WORK}/keys/nokey'" \
    "${FP_AGENT}" --key "${WORK}/keys/nokey" --coordinator-key "${WORK}/keys/none.pub" \
    --individual classes=0+9 --dataset fashion-mnist --work-dir "${WORK}/agent-keys" \
    --coordinator tcp://127.0.0.1:1 --check
  # A data set no campaign can be on: the device waited, welcomed and idle, for ever.
  expect_refused "--dataset: fsd not in {fashion-mnist,fsdd,image-folder}" "${agent[@]}" --dataset fsd
  # More samples than the individual holds: said at the start (its tasks use what it holds).
  expect_exit 4 "--samples asks for 100000 samples, but classes=0+9 holds 2000: its tasks use those" \
    "${FP_AGENT}" --plain --individual classes=0+9 --dataset fashion-mnist \
    --coordinator tcp://127.0.0.1:1 --work-dir "${WORK}/agent-samples" --samples 100000 \
    --give-up-after 1s
  # A config file's value its option's check refuses names the file's line and key.
  printf '# my device\nsamples = -3\n' >"${WORK}/agent.toml"
  expect_refused "${WORK}/agent.toml:2: samples: must be at least 0, got -3" \
    "${agent[@]}" --config "${WORK}/agent.toml"

  # Refused once parsed, at the start (exit 2), before anything is made: an id the coordinator
  # would refuse, a labels file that is not there; a host index from the environment that is
  # not one (a second host would have run host 0's agents), a stats file whose folder cannot be
  # made (found after the whole run before).
  expect_exit 2 "--id: Invalid argument: agent id 'my phone'" "${agent[@]}" --id "my phone"
  # Given empty, it was read as none given and a kept or new id used.
  expect_exit 2 "--id is empty: give this device's id" "${agent[@]}" --id ""
  printf 'id = ""\n' >"${WORK}/agent-id.toml"
  expect_exit 2 "--id is empty: give this device's id" "${agent[@]}" --config "${WORK}/agent-id.toml"
  # A work folder another agent is using (its outbox, its downloads): held here by a POSIX
  # record lock (Python's lockf), which the agent's open-file-description lock meets.
  mkdir -p "${WORK}/busy"
  printf 'fp-agent phone-0, pid 1, since then\n' >"${WORK}/busy/agent.lock"
  python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+"); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").close(); time.sleep(60)' "${WORK}/busy/agent.lock" "${WORK}/busy.held" &
  holder=$!
  for _ in $(seq 100); do [[ -e "${WORK}/busy.held" ]] && break; sleep 0.1; done
  expect_exit 2 "--work-dir: Unavailable: work folder ${WORK}/busy is in use by another process (fp-agent phone-0, pid 1, since then)" \
    "${FP_AGENT}" --plain --individual classes=0+9 --dataset fashion-mnist \
    --coordinator tcp://127.0.0.1:1 --work-dir "${WORK}/busy"
  kill "${holder}"
  wait "${holder}" 2>/dev/null
  printf 'x' >"${WORK}/pic.png"
  expect_exit 2 "--labels: Not found: labels file ${WORK}/none.csv does not exist" \
    "${FP_AGENT}" --plain --data "${WORK}" --dataset fashion-mnist --labels "${WORK}/none.csv" \
    --work-dir "${WORK}/agent"
  # A name its Hello could not carry: the coordinator would refuse every Hello.
  expect_exit 2 "--individual: Protocol error: Hello.capabilities.datasets[]: contains control character U+0009" \
    "${FP_AGENT}" --plain --data "${WORK}" --dataset fashion-mnist --individual "$(printf 'dev\tice')" \
    --work-dir "${WORK}/agent"
  # A folder of pictures on a device of recording campaigns (--dataset's default, fsdd).
  expect_exit 2 "--data: Invalid argument: data folder ${WORK} holds 1 picture(s) and no recording, but the models of fsdd campaigns take recordings (WAV, FLAC, Ogg, MP3, M4A, 3GP, AMR)" \
    "${FP_AGENT}" --plain --data "${WORK}" --work-dir "${WORK}/agent"
  rm "${WORK}/pic.png"
  # An option that does nothing in the agent's mode.
  expect_exit 2 "--samples: it applies to a built-in data set's individuals" \
    "${FP_AGENT}" --plain --data "${WORK}" --samples 50 --work-dir "${WORK}/agent"
  expect_exit 2 "--max-samples: it bounds the files read from --data; give --data too" \
    "${FP_AGENT}" --plain --individual classes=0+9 --dataset fashion-mnist --max-samples 10 \
    --work-dir "${WORK}/agent"
  expect_exit 2 "--min-samples: it bounds the files read from --data; give --data too" \
    "${FP_AGENT}" --plain --individual classes=0+9 --dataset fashion-mnist --min-samples 5 \
    --work-dir "${WORK}/agent"
  expect_exit 2 "--max-samples 5 is below --min-samples 10: no task could run" \
    "${FP_AGENT}" --plain --data "${WORK}" --dataset fashion-mnist --max-samples 5 \
    --work-dir "${WORK}/agent"
  expect_refused "--min-samples: must be at least 2, got 1" \
    "${FP_AGENT}" --plain --data "${WORK}" --min-samples 1 --work-dir "${WORK}/agent"
  # An endpoint no other program can reach: the agent would wait for ever.
  expect_exit 2 "--coordinator: Invalid argument: endpoint 'inproc://c': inproc:// reaches only threads of one process" \
    "${FP_AGENT}" --plain --individual classes=0+9 --dataset fashion-mnist \
    --coordinator inproc://c --work-dir "${WORK}/agent"
  expect_refused "--threads: must be 1 to 256, got 999" "${agent[@]}" --threads 999
}

# fp-bench and fp-coordinator.
part_tools() {
  expect_refused "--batch: must be at least 1, got 0" "${FP_BENCH}" telemetry_ingest --batch 0
  expect_refused "--chunk-kb: must be at least 1, got 0" "${FP_BENCH}" model_fanout --chunk-kb 0
  # The benchmarks' scratch paths given as the user's own: model_fanout deleted the --dir folder
  # with everything in it, telemetry_ingest and hostile_peers replaced the --db database.
  mkdir -p "${WORK}/precious" && printf 'notes\n' >"${WORK}/precious/notes.txt"
  expect_exit 1 "--dir ${WORK}/precious holds files of its own (no fp-bench scratch folder)" \
    "${FP_BENCH}" model_fanout --dir "${WORK}/precious" --agents 1 --size-mb 1
  [ -f "${WORK}/precious/notes.txt" ] || { echo "FAIL: model_fanout deleted --dir"; failures=$((failures + 1)); }
  expect_exit 1 "--db ${WORK}/precious/notes.txt is no benchmark's database" \
    "${FP_BENCH}" telemetry_ingest --db "${WORK}/precious/notes.txt" --reports 10 --clients 1
  [ "$(cat "${WORK}/precious/notes.txt")" = notes ] || { echo "FAIL: telemetry_ingest replaced --db"; failures=$((failures + 1)); }
  expect_exit 2 "--reports 3 is fewer than --clients 4" "${FP_BENCH}" telemetry_ingest --reports 3 --clients 4
  # A small ingest run ends with every report stored: the coordinator's report checks of 6 Dec
  # refused every report the benchmark sent (another individual than its task's), and its
  # clients waited for acknowledgements for ever.
  expect_exit 0 "300 reports acknowledged (0 duplicate, 0 refused), 300 rows in SQLite" \
    "${FP_BENCH}" telemetry_ingest --reports 300 --clients 3 --db "${WORK}/ingest.db"
  # A small fan-out ends with every agent done: its agents' report was of a method the
  # campaign did not ask for, refused, and the agents resent it for ever.
  expect_exit 0 "2 / 2 agents verified the model and finished" \
    "${FP_BENCH}" model_fanout --agents 2 --size-mb 1 --dir "${WORK}/fanout"
  # fp-bench killed alone (kill -9 of its pid, not its process group) ends its coordinator:
  # posix_spawn'ed, it outlived the benchmark, listening for ever.
  "${FP_BENCH}" model_fanout --agents 20 --size-mb 16 --dir "${WORK}/fanout-kill" >/dev/null 2>&1 &
  bench_pid=$!
  for _ in $(seq 1000); do [ -s "${WORK}/fanout-kill/endpoint" ] && break; sleep 0.01; done
  kill -STOP "${bench_pid}" 2>/dev/null
  coordinator_pid=""
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-c ${WORK}/fanout-kill/fp.toml"; then
      coordinator_pid=${p#/proc/}
    fi
  done
  kill -KILL "${bench_pid}" 2>/dev/null
  wait "${bench_pid}" 2>/dev/null
  if [ -z "${coordinator_pid}" ]; then
    echo "FAIL: model_fanout's coordinator not found running (endpoint: $(cat "${WORK}/fanout-kill/endpoint" 2>&1))"
    failures=$((failures + 1))
  else
    # Running: its /proc entry is there and not a zombie (an init that reaps late).
    running() { [ -r "/proc/$1/stat" ] && ! awk '{exit $3 == "Z" ? 0 : 1}' "/proc/$1/stat"; }
    for _ in $(seq 100); do running "${coordinator_pid}" || break; sleep 0.1; done
    if running "${coordinator_pid}"; then
      echo "FAIL: fp-bench model_fanout killed alone left its coordinator running"
      kill -KILL "${coordinator_pid}"
      failures=$((failures + 1))
    fi
  fi
  expect_refused "--finetune-epochs: must be at least 1, got -1" \
    "${FP_BENCH}" personalize_cost --finetune-epochs -1
  # dashboard_api reads a database as it is (it wrote a schema into an empty file) and names a
  # campaign that is not there (a Result's value asked for in its timing loop). An empty file
  # is no database (it said "no campaign with id 1"; fp-sim report named its scratch copy).
  : >"${WORK}/empty.db"
  expect_exit 1 "database ${WORK}/empty.db is an empty file (0 bytes), not a fineprune database" \
    "${FP_BENCH}" dashboard_api --db "${WORK}/empty.db"
  expect_exit 1 "database ${WORK}/empty.db is an empty file (0 bytes)" \
    "${FP_SIM}" report --db "${WORK}/empty.db"
  [ -s "${WORK}/empty.db" ] && { echo "FAIL: a reader wrote into an empty file"; failures=$((failures + 1)); }
  expect_exit 1 "--model: Not found" "${FP_BENCH}" agent_load --model "${WORK}/none.fpm"
  # Its set-up failing, hostile_peers left its peers' process waiting for ever on the pipe (an
  # orphan holding the pipeline's stdout: `| cat` never ended). Its database below a file.
  printf 'x' >"${WORK}/a-file"
  started=$(date +%s)
  timeout 60 "${FP_BENCH}" hostile_peers --db "${WORK}/a-file/x.db" --agents 1 --seconds 0.5 \
    --model-mb 1 2>/dev/null | cat >/dev/null
  if [ $(($(date +%s) - started)) -ge 30 ]; then
    echo "FAIL: hostile_peers' failed set-up left its child process waiting"
    failures=$((failures + 1))
  fi

  # fp-coordinator, in the scratch folder (it would make its database there).
  coord=(env -C "${WORK}" "${FP_COORDINATOR}")
  expect_refused "--heartbeat-ms: must be at least 10, got 0" "${coord[@]}" serve --plain --heartbeat-ms 0
  expect_refused "--epochs: must be at least 1, got 0" "${coord[@]}" train --epochs 0
  expect_refused "--log-level: 'quiet' is no log level" "${coord[@]}" --log-level quiet train
  # After the subcommand too, as its --help says (it was "not expected", exit 109).
  expect_exit 1 "database ${WORK}/none.db does not exist" \
    "${coord[@]}" status --db "${WORK}/none.db" --log-level warn
  expect_exit 0 "Also --log-level LEVEL" "${coord[@]}" status --help
  # The subcommands' help names the agent's options they take (only --model and --out shown).
  expect_exit 0 "--data DIR (this device's files; required), --labels FILE" \
    "${FP_AGENT}" personalize --help
  expect_exit 0 "--data DIR (the files to classify; required)" "${FP_AGENT}" predict --help
  expect_refused "--width: must be positive, got -1" "${coord[@]}" train --width -1
  # The command line skipped [train]'s bounds (--epochs 100000000: 675 h); threads had none.
  expect_refused "--epochs: must be 1 to 10000, got 100000000" "${coord[@]}" train --epochs 100000000
  expect_refused "--threads: must be 1 to 256, got 100000" "${coord[@]}" train --threads 100000
  # A database path that cannot be one: found after the training, the model not registered.
  mkdir -p "${WORK}/dbdir"
  printf '[server]\ndatabase = "%s/dbdir"\n[train]\ndataset = "fashion-mnist"\n' "${WORK}" \
    >"${WORK}/train-db.toml"
  out=$(timeout 120 "${FP_COORDINATOR}" train -c "${WORK}/train-db.toml" --limit 100 2>&1)
  if ! grep -qF "dbdir is a folder, not an SQLite file" <<<"${out}" || grep -q "training" <<<"${out}"; then
    echo "FAIL: train with a folder as its database: ${out}"
    failures=$((failures + 1))
  fi
  expect_exit 2 "server.endpoint: Invalid argument: endpoint 'inproc://x': inproc:// reaches only threads" \
    "${coord[@]}" serve --plain --endpoint inproc://x
  # A folder as the agent's key pair: refused without the hint to make it there with keygen,
  # which refuses it too.
  mkdir -p "${WORK}/one-recording"
  python3 -c 'import sys, wave
w = wave.open(sys.argv[1], "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
w.writeframes(bytes(8000)); w.close()' "${WORK}/one-recording/a.wav"
  out=$(timeout 60 "${FP_AGENT}" --check --data "${WORK}/one-recording" --key "${WORK}/" 2>&1)
  if ! grep -qF -- "--key: Invalid argument: key pair path '${WORK}/' names a folder" <<<"${out}" ||
    grep -qF "keygen" <<<"${out}"; then
    echo "FAIL: fp-agent --check --key <folder>/: ${out}"
    failures=$((failures + 1))
  fi
  # A folder as the database is refused before its lock file is made beside it; a file as the
  # models folder, which serve --check refused, started a coordinator.
  expect_exit 1 "dbdir is a folder, not an SQLite file" \
    "${coord[@]}" serve --plain --db "${WORK}/dbdir" --endpoint "tcp://127.0.0.1:*"
  if [ -e "${WORK}/dbdir.lock" ]; then
    echo "FAIL: serve --db <folder> left ${WORK}/dbdir.lock"
    failures=$((failures + 1))
  fi
  touch "${WORK}/models-file"
  expect_exit 2 "models-file is a file, not a folder" \
    "${coord[@]}" serve --plain --db "${WORK}/models-file.db" --models-dir "${WORK}/models-file" \
    --endpoint "tcp://127.0.0.1:*"
  # No campaign in the database and none configured: --exit-when-done waited for ever (a mistyped
  # --db is a new, empty one), its --check said ready.
  for check in --check ""; do
    expect_exit 2 "holds no campaign and the configuration has no [campaign]: nothing would ever" \
      "${coord[@]}" serve --plain ${check} --exit-when-done --db "${WORK}/no-campaign.db" \
      --models-dir "${WORK}/no-campaign-models" --endpoint "tcp://127.0.0.1:*"
  done
}

case "${PART}" in
  sim | hosts | agent | tools) "part_${PART}" ;;
  *) echo "cli_option_ranges.sh: no part '${PART}' (sim, hosts, agent or tools)" >&2; exit 2 ;;
esac

# Nothing was run: no run folder, no agent work folder, no coordinator database.
for d in run agent fp.db models; do
  if [ -e "${WORK}/${d}" ]; then
    echo "FAIL: ${WORK}/${d} exists: a refused command started work"
    failures=$((failures + 1))
  fi
done
[ "${failures}" -eq 0 ] && echo "PASS" || { echo "${failures} failure(s)"; exit 1; }