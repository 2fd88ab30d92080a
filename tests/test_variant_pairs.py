#!/usr/bin/env python3
"""scripts/variant-pairs: each variant paired with the base on the same individuals (means,
differences, worse / better, compute in passes); bad input exits 2. A small store with the
telemetry columns the script reads."""
import os
import sqlite3
import sys
import tempfile

from script_test import Expectations, run_script


def store(path):
    os.makedirs(path)
    con = sqlite3.connect(os.path.join(path, "fp.db"))
    con.execute("CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("CREATE TABLE telemetry (campaign_id INTEGER, individual TEXT, method TEXT, "
                "accuracy_after REAL, sparsity REAL, compute_macs INTEGER, macs_dense INTEGER, "
                "adaptation_samples INTEGER)")
    con.executemany("INSERT INTO campaigns VALUES (?, ?)", [(1, "study/all"), (2, "study/s8")])
    # Individual b is worse by 0.2 with the cap, c better by 0.1; a fine-tuning row is ignored.
    con.executemany("INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?, 10, 100)", [
        (1, "a", "fine_prune", 0.9, 0.5, 1000), (1, "b", "fine_prune", 0.8, 0.4, 1000),
        (1, "c", "fine_prune", 0.7, 0.3, 1000), (2, "a", "fine_prune", 0.9, 0.5, 500),
        (2, "b", "fine_prune", 0.6, 0.2, 500), (2, "c", "fine_prune", 0.8, 0.3, 500),
        (2, "a", "finetune", 0.1, 0.0, 9999)])
    con.commit()


def run(*args):
    rc, out, err = run_script("variant-pairs", *args)
    return rc, out + err


def main():
    with tempfile.TemporaryDirectory() as d:
        store(f"{d}/run")
        checks = Expectations()
        expect = checks.expect
        rc, out = run(f"{d}/run")
        expect(rc == 0 and "paired with 'all' on 3 individuals" in out, f"header: {rc} {out}")
        expect("| all | 80.00 | +0.00 | 40.00 | +0.00 | 0 / 0 | 1.000 |" in out, f"base: {out}")
        expect("| s8 | 76.67 | -3.33 | 33.33 | -6.67 | 1 / 1 | 0.500 |" in out, f"pair: {out}")
        rc, out = run(f"{d}/run", "--base", "s9")
        expect(rc == 2 and "no variant 's9' (it has: all, s8)" in out, f"bad base: {rc} {out}")
        # A leave-one-out run without variants: its groups were taken for variants.
        con = sqlite3.connect(f"{d}/run/fp.db")
        con.execute("UPDATE campaigns SET name = 'study/group=anna-b' WHERE id = 1")
        con.commit()
        con.close()
        rc, out = run(f"{d}/run")
        expect(rc == 2 and "campaign 'study/group=anna-b' names no variant" in out,
               f"groups are no variants: {rc} {out}")
        rc, out = run(f"{d}/nowhere")
        expect(rc == 2 and "no fineprune database (fp.db) here" in out, f"missing store: {rc} {out}")
        return checks.exit_status()


if __name__ == "__main__":
    sys.exit(main())
