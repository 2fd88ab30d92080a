#!/usr/bin/env python3
"""scripts/class-estimates over fp-sim logs written here: every individual of a leave-one-out
run is read against its own general model's curve, whatever its person folder's name ('-' and
spaces were dropped without a word, "c d" read against "c"'s curve); a run without curves (a
fixed threshold) is named, exit 2, not a traceback."""
import sys
import tempfile

from script_test import Expectations, run_folder_with_log, run_script

CURVE = ("class spread curve (24 of its own training samples (no unseen labeled general data); "
         "100 per draw, 20 draws per class count): ")
LEAVE_ONE_OUT = [
    "general model without group=anna-b", CURVE + "0.500, 0.900",
    "general model without group=c d", CURVE + "0.800, 0.900",
    "general model without group=c", CURVE + "0.100, 0.200",
    "task 1 (group=anna-b): class spread 0.700, class-prior shift (threshold 1.000)",
    "task 2 (group=c d): class spread 0.850, inputs shift (threshold 0.822)",
    "task 3 (group=c): class spread 0.150, inputs shift (threshold 0.100)",
    "task 4 (group=c d): class spread 0.850, inputs shift (threshold 0.822)",  # a variant's
]
FIXED = ["task 1 (classes=0+3#0): class spread 0.922, inputs shift (threshold 0.500)"]


def main():
    e = Expectations()
    with tempfile.TemporaryDirectory() as root:
        code, out, err = run_script("class-estimates", run_folder_with_log(root, "loo", LEAVE_ONE_OUT))
        e.expect(code == 0, f"exit 0, got {code}: {err}")
        rows = [line for line in out.splitlines() if line.startswith("| loo |")]
        # k-hat: the class count at which the individual's own model's curve reaches its spread.
        e.expect(rows == ["| loo | group=anna-b | 0.700 | 1.50 |",
                          "| loo | group=c d | 0.850 | 1.50 |",
                          "| loo | group=c | 0.150 | 1.50 |"], f"one row each: {out}")
        fixed = run_folder_with_log(root, "fixed", FIXED)
        code, out, err = run_script("class-estimates", fixed)
        e.expect(code == 2 and "Traceback" not in err and out == "" and
                 f"{fixed}: no class spread curve in fp-sim.log for classes=0+3#0" in err,
                 f"a run without curves named, exit 2, got {code}: {out} {err}")
    return e.exit_status()


if __name__ == "__main__":
    sys.exit(main())
