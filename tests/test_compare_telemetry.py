#!/usr/bin/env python3
"""scripts/compare-telemetry: identical runs pass, a changed or missing row fails and is named,
bad input exits 2. Two small stores with the telemetry columns the script reads."""
import os
import sqlite3
import sys
import tempfile

from script_test import Expectations, run_script


def store(path, rows):
    os.makedirs(path)
    con = sqlite3.connect(os.path.join(path, "fp.db"))
    con.execute("CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("CREATE TABLE telemetry (campaign_id INTEGER, individual TEXT, method TEXT, "
                "accuracy_before REAL, accuracy_after REAL, sparsity REAL, compute_macs INTEGER, "
                "mean_confidence_after REAL)")
    con.execute("INSERT INTO campaigns VALUES (1, 'study/default')")
    con.executemany("INSERT INTO telemetry VALUES (1, ?, ?, 0.5, ?, 0.3, 1000, 0.8)", rows)
    con.commit()


def run(*args):
    rc, out, err = run_script("compare-telemetry", *args)
    return rc, out + err


def main():
    base = [("a", "fine_prune", 0.9), ("a", "finetune", 0.95), ("b", "fine_prune", 0.7)]
    with tempfile.TemporaryDirectory() as d:
        store(f"{d}/one", base)
        store(f"{d}/same", base)
        store(f"{d}/changed", [base[0], ("a", "finetune", 0.96), base[2]])
        store(f"{d}/fewer", base[:2])
        checks = Expectations()
        expect = checks.expect
        rc, out = run(f"{d}/one", f"{d}/same")
        expect(rc == 0 and "3 row(s) in both, 0 differing" in out, f"identical runs: {rc} {out}")
        rc, out = run(f"{d}/one", f"{d}/changed")
        expect(rc == 1 and "differs: study/default | a | finetune" in out and
               "accuracy_after 0.95 -> 0.96" in out, f"changed row: {rc} {out}")
        rc, out = run(f"{d}/one", f"{d}/changed", "--methods", "fine_prune")
        expect(rc == 0 and "2 row(s) in both" in out, f"--methods filter: {rc} {out}")
        # A method neither run holds (the schema once spelled Fine-Pruning "fineprune"): it
        # compared nothing and passed.
        rc, out = run(f"{d}/one", f"{d}/changed", "--methods", "fineprune")
        expect(rc == 2 and "--methods names fineprune, which neither run holds (they hold: "
               "fine_prune, finetune)" in out, f"unknown method: {rc} {out}")
        store(f"{d}/empty", [])
        rc, out = run(f"{d}/empty", f"{d}/empty")
        expect(rc == 2 and "neither run holds telemetry" in out, f"empty runs: {rc} {out}")
        rc, out = run(f"{d}/one", f"{d}/fewer")
        expect(rc == 1 and "only in A: study/default | b | fine_prune" in out,
               f"missing row: {rc} {out}")
        rc, out = run(f"{d}/one", f"{d}/nowhere")
        expect(rc == 2 and f"no fineprune database (fp.db) here: '{d}/nowhere'" in out,
               f"missing store: {rc} {out}")
        # A '#' in a run folder's name ended the file name in the SQLite URI: another file was
        # opened ("no such table").
        store(f"{d}/run#2", base)
        rc, out = run(f"{d}/one", f"{d}/run#2")
        expect(rc == 0 and "3 row(s) in both, 0 differing" in out, f"'#' in a name: {rc} {out}")
        rc, out = run(f"{d}/one", f"{d}/run#2/fp.db")
        expect(rc == 0, f"'#' in a file's path: {rc} {out}")
        return checks.exit_status()


if __name__ == "__main__":
    sys.exit(main())
