#!/usr/bin/env python3
"""scripts/replay-stopping-rules: replays the selector's stopping rules on logged scores. A
score that dips twice and rises again changes the choice of "stop after 2 beaten" and not
of 3; a selection with candidates not scored is skipped; a folder without a log exits."""
import os
import sys
import tempfile

from script_test import Expectations, run_folder_with_log, run_script
PREFIX = "[2026-12-03 03:25:10.715] [fp-sim-run] [debug] "
LOG = [
    # Dips at 0.3 and 0.4 (beaten), rises at 0.5 (the choice), then collapses.
    "sparsity 0.5 chosen; candidates' scores: 0.0:0.8405 0.1:0.8405 0.2:0.8405 0.3:0.8268 "
    "0.4:0.8250 0.5:0.8484 0.6:-inf 0.7:-inf 0.8:-inf 0.9:-inf",
    # Flat, then falls: every rule keeps 0.2.
    "sparsity 0.2 chosen; candidates' scores: 0.0:0.9 0.1:0.9 0.2:0.9 0.3:0.8 0.4:0.7 "
    "0.5:0.6 0.6:0.5 0.7:0.4 0.8:0.3 0.9:0.2",
    # Stopped early by the default rules: cannot be replayed.
    "sparsity 0.1 chosen; candidates' scores: 0.0:0.9 0.1:0.9 0.2:<=0.5 0.3:- 0.4:- 0.5:- "
    "0.6:- 0.7:- 0.8:- 0.9:-",
]


def run(*args):
    return run_script("replay-stopping-rules", *args)


def main():
    checks = Expectations()
    expect = checks.expect

    with tempfile.TemporaryDirectory() as d:
        run_folder_with_log(d, "run", LOG, PREFIX)
        rc, out, err = run(f"{d}/run", "--beaten", "0,2,3")
        rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
        # beaten=0 (ruled out only): both choices kept; scores 0.0..0.7 (stops after 0.6, 0.7
        # ruled out) and all ten. beaten=2: the first selection stops after 0.3, 0.4 and
        # chooses 0.2; the second stops after 0.3, 0.4 too. beaten=3: the first reaches 0.5.
        expect(rc == 0, f"exit {rc}: {err}")
        expect(rows.get("run", [])[1:] == ["2", "0, 18", "1, 10", "0, 14"], f"row: {out}")
        expect("1 selections skipped" in err, f"skipped: {err}")
        # A line cut short (a killed run's last line) is skipped and named: it ended in a
        # ValueError traceback.
        with open(f"{d}/run/fp-sim.log", "a") as f:
            f.write(PREFIX + "sparsity 0.2 chosen; candidates' scores: 0.0:0.9 0.1:0.9 0.2")
        rc, out, err = run(f"{d}/run", "--beaten", "0,2,3")
        rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
        expect(rc == 0 and rows.get("run", [])[1:] == ["2", "0, 18", "1, 10", "0, 14"],
               f"the cut line changes nothing: {rc} {out} {err}")
        expect(f"{d}/run/fp-sim.log:4: skipped, not understood ('0.2' is no TARGET:SCORE)" in err
               and "2 selections skipped" in err and "Traceback" not in err,
               f"the cut line named: {err}")
        # A missing log, or a folder in its place: one line, exit 2, no table started.
        os.makedirs(f"{d}/odd/fp-sim.log")
        for folder in ("nowhere", "odd"):
            rc, out, err = run(f"{d}/{folder}")
            expect(rc == 2 and out == "" and f"{d}/{folder}/fp-sim.log" in err and
                   "Traceback" not in err, f"{folder}: {rc} {out} {err}")
    return checks.exit_status()


if __name__ == "__main__":
    sys.exit(main())
