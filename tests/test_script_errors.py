#!/usr/bin/env python3
"""The Python scripts in scripts/ answer bad input (a missing folder or file, text that is no
number, another program's database) with one line naming the script, its arguments and the
error, exit 2: they printed tracebacks."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

from script_test import SCRIPTS, Expectations, run_script


def main():
    e = Expectations()
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, "nonexistent")
        other = os.path.join(tmp, "other")  # a run folder whose fp.db is another program's
        os.makedirs(other)
        con = sqlite3.connect(os.path.join(other, "fp.db"))
        con.execute("CREATE TABLE notes (text TEXT)")
        con.commit()
        con.close()
        # subset-means: results that are none, a partition without draw indices, a file twice
        # (IndexError, KeyError, TypeError tracebacks; a file counted twice).
        def results_file(name, content):
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                json.dump(content, f)
            return path
        drawn = results_file("a:b.json", {"individuals": [
            {"individual": "classes=0+3#0", "evaluated": 1, "general": 0.5,
             "methods": {"fine_prune": {"accuracy": 0.75}}}]})
        # A ':' in a file's name, given relative: taken for a git revision.
        code, out, err = run_script("subset-means", "5", os.path.relpath(drawn))
        e.expect(code == 0 and "individuals: 1; general model 50.0 %" in out and
                 "fine_prune" in out and "gain +25.0" in out,
                 f"subset-means reads a local file named with ':', got {code}: {out} {err}")
        not_results = results_file("other.json", {"x": 1})
        grouped = results_file("grouped.json", {"individuals": [
            {"individual": "group=anna-b", "evaluated": 1, "general": 0.5, "methods": {}}]})
        cases = [("subset-means", ["5", not_results], "no campaign results"),
                 ("subset-means", ["5", grouped], "individual 'group=anna-b' has no draw index"),
                 ("subset-means", ["5", drawn, drawn], "a file is given twice"),
                 ("class-estimates", [missing], "No such file or directory"),
                 ("reestimation-check", [missing],
                  f"no fineprune database (fp.db) here: '{missing}/fp.db'"),
                 ("reestimation-check", [other], "no such table"),
                 ("subset-means", ["three", missing], "invalid literal for int()"),
                 ("build-times.py", [tmp], "compile_commands.json")]
        for script, args, says in cases:
            code, out, err = run_script(script, *args)
            # Nothing on stdout before the error (class-estimates printed its table's header).
            e.expect(out == "", f"{script} {' '.join(args)}: nothing printed before: {out}")
            what = f"{script} {' '.join(args)}"
            e.expect(code == 2, f"{what}: exit 2, got {code}: {err}")
            e.expect("Traceback" not in err, f"{what}: no traceback: {err}")
            e.expect(err.startswith(f"{script} {' '.join(args)}: ") and says in err,
                     f"{what}: names itself, its arguments and '{says}': {err}")
    # scripts/python/test_export.sh emptied the folder it was given before checking anything
    # (a folder of someone's files given by mistake was lost).
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "keep.txt"), "w") as f:
            f.write("data")
        p = subprocess.run(["bash", os.path.join(SCRIPTS, "python", "test_export.sh"), "/bin/true",
                            "/bin/true", tmp], capture_output=True, text=True, timeout=60)
        e.expect(p.returncode == 2 and "holds files this script did not make" in p.stderr and
                 os.path.exists(os.path.join(tmp, "keep.txt")),
                 f"test_export.sh over a folder of files: exit 2, got {p.returncode}: {p.stderr}")
    # scripts/test-case with an empty text ran every test case (the Catch spec "**").
    p = subprocess.run([os.path.join(SCRIPTS, "test-case"), ""], capture_output=True, text=True)
    code, err = p.returncode, p.stderr
    e.expect(code == 2 and "an empty text matches every test case" in err,
             f"test-case '': exit 2, got {code}: {err}")
    # replay-stopping-rules: a --beaten that is no list of counts ended in a traceback; a
    # negative one was replayed.
    for beaten in ["x", "-1", "1,,2"]:
        # Any folder as the run: the options are read first.
        p = subprocess.run([os.path.join(SCRIPTS, "replay-stopping-rules"), tempfile.gettempdir(),
                            "--beaten", beaten], capture_output=True, text=True, timeout=60)
        e.expect(p.returncode == 2 and "is no comma-separated list of counts" in p.stderr and
                 "Traceback" not in p.stderr,
                 f"replay-stopping-rules --beaten {beaten}: exit 2, got {p.returncode}: "
                 f"{p.stderr}")
    # scripts/fuzz passed its seconds to libFuzzer unchecked: "abc" and "0" fuzzed for ever,
    # "2m" for 2 s. Refused before anything is built.
    for seconds in ["2m", "0", "abc", "99999999999999999999"]:
        p = subprocess.run([os.path.join(SCRIPTS, "fuzz"), seconds], capture_output=True,
                           text=True, timeout=60)
        e.expect(p.returncode == 2 and f"'{seconds}' is no number of seconds" in p.stderr,
                 f"fuzz {seconds}: exit 2, got {p.returncode}: {p.stderr}")
    return e.exit_status()


if __name__ == "__main__":
    sys.exit(main())
