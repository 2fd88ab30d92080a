#!/usr/bin/env python3
"""scripts/reestimation-check over a run folder made here (a store with the tables it joins,
and a log): every check row is read, whatever the individual's name (one with ')' was left
out); a check line of a task the store does not hold, or without one of its figures, is named
by file and line, exit 2 (KeyError and AttributeError tracebacks)."""
import os
import sqlite3
import sys
import tempfile

from script_test import Expectations, run_folder_with_log, run_script

PREFIX = "[2026-12-02 10:00:00.000] [fp-sim-run] [info] "
CHECK = ("class spread {spread}, inputs shift (threshold 0.900); re-estimation check: "
         "confidence 0.800 -> 0.880 (ratio 1.100, minimum 1.05), agreement 0.750, "
         "spread 0.950 -> 0.930")


def make_run(root, name, log_lines):
    folder = os.path.join(root, name)
    os.makedirs(folder)
    db = sqlite3.connect(os.path.join(folder, "fp.db"))
    db.executescript("""
        CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE tasks (id INTEGER PRIMARY KEY, campaign_id INTEGER);
        CREATE TABLE telemetry (task_id INTEGER, individual TEXT, method TEXT,
                                accuracy_before REAL, accuracy_after REAL);
        INSERT INTO campaigns VALUES (1, 'study/default');
        INSERT INTO tasks VALUES (1, 1), (2, 1);
        INSERT INTO telemetry VALUES (1, 'group=anna (2)', 'fine_prune', 0.5, 0.6),
                                     (2, 'classes=0+3#1', 'fine_prune', 0.7, 0.75);
    """)
    db.commit()
    db.close()
    return run_folder_with_log(root, name, log_lines, PREFIX)


def main():
    e = Expectations()
    with tempfile.TemporaryDirectory() as root:
        good = make_run(root, "good", [
            "task 1 (group=anna (2)): " + CHECK.format(spread="0.950"),
            "task 2 (classes=0+3#1): " + CHECK.format(spread="0.940")])
        code, out, err = run_script("reestimation-check", good)
        e.expect(code == 0, f"exit 0, got {code}: {err}")
        e.expect("group=anna (2)" in out and "classes=0+3#1" in out,
                 f"both checks are rows: {out}")
        stranger = make_run(root, "stranger", ["task 99 (classes=0+3#1): " +
                                               CHECK.format(spread="0.940")])
        partial = make_run(root, "partial", ["task 2 (classes=0+3#1): " +
                                             CHECK.format(spread="0.940").replace(
                                                 ", agreement 0.750", "")])
        for folder, says in ((stranger, f"{stranger}/fp-sim.log:1: task 99 is not in "
                                        f"{stranger}/fp.db"),
                             (partial, f"{partial}/fp-sim.log:1: the re-estimation check "
                                       "names no agreement")):
            code, out, err = run_script("reestimation-check", folder)
            e.expect(code == 2 and says in err and "Traceback" not in err and out == "",
                     f"{folder}: exit 2 naming '{says}', got {code}: {out} {err}")
    return e.exit_status()


if __name__ == "__main__":
    sys.exit(main())
