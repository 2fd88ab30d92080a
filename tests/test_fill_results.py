#!/usr/bin/env python3
"""scripts/fill-results over a docs folder made here: a campaign stopped half way (the
<name>.partial folder scripts/protocol-experiments leaves, no run.txt) is skipped, not a
traceback and not a row; a run.txt without a figure and a pooled report without rows are
named, exit 2, and RESULTS.md is left as it was."""
import os
import sys
import tempfile

from script_test import Expectations, run_script

RUN_TXT = """command: fp-sim run simulations/scenarios/paper/x_test.toml --seed 101
load average (1/5/15 min) at start: 0.50 0.40 0.30; at end: 1.50 1.00 0.50
User time (seconds): 41.41
System time (seconds): 0.59
Elapsed (wall clock) time (h:mm:ss or m:ss): 0:42.36
Maximum resident set size (kbytes): 334376
wall 41.8 s (setup 24.0 s incl. training 19.2 s; campaign 17.8 s)
"""
RESULTS_MD = "# Results\n\n<!-- RUNS -->\n<!-- /RUNS -->\n\nprose\n"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    e = Expectations()
    with tempfile.TemporaryDirectory() as docs:
        results_md = os.path.join(docs, "RESULTS.md")
        write(results_md, RESULTS_MD)
        write(os.path.join(docs, "results", "x_test_seed101", "run.txt"), RUN_TXT)
        os.makedirs(os.path.join(docs, "results", "x_test_seed102.partial"))  # stopped
        # One stopped after its run.txt was written: still no finished campaign.
        write(os.path.join(docs, "results", "x_test_seed103.partial", "run.txt"), RUN_TXT)
        code, out, err = run_script("fill-results", results_md)
        e.expect(code == 0, f"exit 0, got {code}: {err}")
        text = open(results_md).read()
        e.expect("| `x_test_seed101` | 0:42.36 | 19.2 s | 42 s | 327 MB | 0.50 → 1.50 |" in text,
                 f"the finished campaign's row: {text}")
        e.expect(".partial" not in text and "seed102" not in text and "seed103" not in text,
                 f"no row for a stopped campaign: {text}")
        e.expect("x_test_seed102.partial: skipped" in err, f"the skip is said: {err}")

        filled = text
        write(os.path.join(docs, "results", "x_test_seed104", "run.txt"),
              RUN_TXT.replace("Maximum resident", "Maximum"))
        code, out, err = run_script("fill-results", results_md)
        e.expect(code == 2 and "Traceback" not in err and
                 "x_test_seed104/run.txt: no maximum resident set size" in err,
                 f"a run.txt without its memory figure is named, exit 2, got {code}: {err}")
        e.expect(open(results_md).read() == filled, "RESULTS.md unchanged after the error")
        os.remove(os.path.join(docs, "results", "x_test_seed104", "run.txt"))
        os.rmdir(os.path.join(docs, "results", "x_test_seed104"))

        pooled = os.path.join(docs, "results", "x_test_pooled", "pooled_comparisons.csv")
        write(pooled, "variant,method,versus,n,mean_a\n")  # the header alone
        write(results_md, filled + "<!-- TABLE:results/x_test_pooled -->\n<!-- /TABLE -->\n")
        code, out, err = run_script("fill-results", results_md)
        e.expect(code == 2 and "Traceback" not in err and f"{pooled} holds no rows" in err,
                 f"a pooled report without rows is named, exit 2, got {code}: {err}")
        for args in ([os.path.join(docs, "missing.md")], [docs]):
            code, out, err = run_script("fill-results", *args)
            e.expect(code == 2 and "Traceback" not in err,
                     f"fill-results {args}: exit 2 without a traceback, got {code}: {err}")
    return e.exit_status()


if __name__ == "__main__":
    sys.exit(main())
