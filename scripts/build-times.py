#!/usr/bin/env python3
"""Where a Ninja build's time went, from its .ninja_log and compile_commands.json:

  scripts/build-times.py BUILD_DIR

Prints the wall time of the last build, the summed time of its jobs (on N cores a build
whose jobs sum to about N x its wall time is limited by the total work, not by a chain of
jobs), and per target the compile time of the sources that use the precompiled torch
header and of those that do not. Measure a clean build: cmake -G Ninja -B BUILD_DIR ...,
then CCACHE_DISABLE=1 ninja -C BUILD_DIR (docs/BUILD.md).
"""
import collections
import json
import os
import re
import sys

from script_errors import run_main


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    uses_pch = {}
    for entry in json.load(open(os.path.join(build, "compile_commands.json"))):
        out = re.search(r"-o (\S+)", entry["command"])
        if out:
            uses_pch[out.group(1)] = "cmake_pch.hxx" in entry["command"]
    jobs = {}  # one line per output; a job with several outputs is one (start, end, hash)
    for line in open(os.path.join(build, ".ninja_log")):
        if line.startswith("#"):
            continue
        start, end, _, output, digest = line.rstrip("\n").split("\t")
        jobs[(int(start), int(end), digest)] = output
    if not jobs:
        sys.exit(f"{build}/.ninja_log holds no jobs")
    wall = (max(e for _, e, _ in jobs) - min(s for s, _, _ in jobs)) / 1000
    total = sum(e - s for s, e, _ in jobs) / 1000
    print(f"wall {wall:.0f} s, jobs summed {total:.0f} s ({len(jobs)} jobs)")
    by_target = collections.defaultdict(lambda: [0.0, 0, 0.0, 0])
    for (start, end, _), output in jobs.items():
        target = re.search(r"CMakeFiles/([^/]+)\.dir/", output)
        if not output.endswith(".o") or not target:
            continue
        k = 0 if uses_pch.get(output) else 2
        row = by_target[target.group(1)]
        row[k] += (end - start) / 1000
        row[k + 1] += 1
    print(f"{'target':28s} {'torch (PCH)':>16s} {'torch-free':>16s}")
    for name, (t, nt, f, nf) in sorted(by_target.items(), key=lambda kv: -(kv[1][0] + kv[1][2])):
        print(f"{name:28s} {t:8.1f} s / {nt:3d} {f:8.1f} s / {nf:3d}")
    free = sum(r[2] for r in by_target.values())
    torch = sum(r[0] for r in by_target.values())
    print(f"{'all':28s} {torch:8.1f} s       {free:8.1f} s")


if __name__ == "__main__":
    sys.exit(run_main(main))
