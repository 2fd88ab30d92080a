#!/usr/bin/env python3
"""scripts/paper-experiments: an experiment's committed report is replaced only by a whole new
one (a failed run deleted it before it started), and a name that is no experiment is refused
before anything is deleted. The script runs in a copy of the repository's layout, with a
stand-in fp-sim that writes a report or fails."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

from script_test import SCRIPTS, Expectations

FAKE_SIM = """#!/usr/bin/env bash
# fp-sim run SCENARIO --out RUN --fresh --quiet --report DIR: writes DIR/summary.md or fails
[ "${FAKE_FAIL:-}" = 1 ] && { echo "no FSDD directory was found" >&2; exit 1; }
while [ $# -gt 0 ]; do
  if [ "$1" = --report ]; then mkdir -p "$2" && echo new >"$2/summary.md"; fi
  shift
done
"""


def main():
    e = Expectations()
    with tempfile.TemporaryDirectory() as repo:
        os.makedirs(os.path.join(repo, "scripts"))
        os.makedirs(os.path.join(repo, "simulations", "scenarios", "paper"))
        open(os.path.join(repo, "simulations", "scenarios", "paper", "fsdd_vgg7.toml"), "w").close()
        shutil.copy(os.path.join(SCRIPTS, "paper-experiments"), os.path.join(repo, "scripts"))
        sim = os.path.join(repo, "fake-sim")
        with open(sim, "w") as f:
            f.write(FAKE_SIM)
        os.chmod(sim, os.stat(sim).st_mode | stat.S_IEXEC)
        report = os.path.join(repo, "docs", "results", "fsdd_vgg7")
        os.makedirs(report)
        with open(os.path.join(report, "summary.md"), "w") as f:
            f.write("committed\n")

        def run(*names, fail=False):
            env = dict(os.environ, FP_SIM=sim, FAKE_FAIL="1" if fail else "")
            p = subprocess.run([os.path.join(repo, "scripts", "paper-experiments"), *names],
                               env=env, capture_output=True, text=True)
            return p.returncode, p.stderr

        def summary():
            path = os.path.join(report, "summary.md")
            return open(path).read() if os.path.exists(path) else None

        code, err = run("fsdd_vgg7", fail=True)
        e.expect(code == 1, f"a failed run exits 1, got {code}: {err}")
        e.expect(summary() == "committed\n",
                 f"a failed run kept the committed report: {summary()}")
        for name in ("fsdd_vgg7/", "..", "../docs"):
            code, err = run(name)
            e.expect(code == 2 and "is no experiment name" in err,
                     f"'{name}' refused with exit 2, got {code}: {err}")
        e.expect(summary() == "committed\n", "a refused name deleted nothing")
        # Every name is checked before the first experiment runs (hours, then the refusal).
        code, err = run("fsdd_vgg7", "nosuch")
        e.expect(code == 2 and "'nosuch' is no experiment (no simulations/scenarios/paper/"
                 "nosuch.toml)" in err, f"an unknown second name refused first, got {code}: {err}")
        e.expect(summary() == "committed\n", "nothing ran before the refusal")
        code, err = run("fsdd_vgg7")
        e.expect(code == 0, f"a run that succeeds exits 0, got {code}: {err}")
        e.expect(summary() == "new\n", f"its report replaces the committed one: {summary()}")
        e.expect(not os.path.exists(report + ".partial"), "no .partial folder left behind")

    # scripts/protocol-experiments: names are checked before any campaign runs (one without
    # _seed<N>, or --help, reached fp-sim as a scenario or seed; none did nothing, exit 0).
    with tempfile.TemporaryDirectory() as repo:
        os.makedirs(os.path.join(repo, "scripts"))
        os.makedirs(os.path.join(repo, "simulations", "scenarios", "paper"))
        open(os.path.join(repo, "simulations", "scenarios", "paper", "x_dev.toml"), "w").close()
        shutil.copy(os.path.join(SCRIPTS, "protocol-experiments"), os.path.join(repo, "scripts"))
        for args, says in (((), "Usage"), (("--help",), "is no <scenario>_seed<N>"),
                           (("x_dev",), "is no <scenario>_seed<N>"),
                           (("x_dev_seed011",), "N without leading zeros"),
                           (("x_dev_seed11", "y_dev_seed11"), "no simulations/scenarios/paper/y_dev.toml")):
            p = subprocess.run([os.path.join(repo, "scripts", "protocol-experiments"), *args],
                               env=dict(os.environ, FP_SIM="/bin/false"), capture_output=True,
                               text=True)
            e.expect(p.returncode == 2 and says in p.stderr,
                     f"protocol-experiments {args} refused with exit 2 and '{says}', got "
                     f"{p.returncode}: {p.stderr}")
        e.expect(not os.path.exists(os.path.join(repo, "runs")) and
                 not os.path.exists(os.path.join(repo, "docs")), "a refused name ran nothing")
        # An fp-sim that ends well without a report (FP_SIM_EXTRA="--check"): what it printed
        # is shown (it went to the .out file, and the user saw "run.txt: No such file").
        checker = os.path.join(repo, "checking-sim")
        with open(checker, "w") as f:
            f.write("#!/bin/sh\necho 'ready: scenario x_dev, seed 11, a new run'\n")
        os.chmod(checker, 0o755)
        p = subprocess.run([os.path.join(repo, "scripts", "protocol-experiments"), "x_dev_seed11"],
                           env=dict(os.environ, FP_SIM=checker, RUNS=os.path.join(repo, "runs")),
                           capture_output=True, text=True)
        e.expect(p.returncode == 1 and "x_dev_seed11: fp-sim wrote no report in" in p.stderr and
                 "ready: scenario x_dev" in p.stderr and "No such file" not in p.stderr,
                 f"an fp-sim run without a report says so, got {p.returncode}: {p.stderr}")
    return e.exit_status()


if __name__ == "__main__":
    sys.exit(main())
