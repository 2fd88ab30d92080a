#!/usr/bin/env python3
"""Runs a command (an `fp-sim run ... --http-port P`) and samples it once a second:
the resident memory of its `fp-sim run` process (the coordinator and the dashboard run
in it) and of its `fp-sim host` processes (agent hosts), and the latency of the dashboard's API
while the campaign runs. Writes samples.csv, latency.csv and memory.svg to --out and
prints a summary. Standard library only.

  bench/sample_run.py --out docs/results/bench_10000 --port 8765 -- \
      build/simulations/fp-sim run simulations/scenarios/bench_10000.toml --fresh \
      --http-port 8765 --exit-when-done
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import time
import urllib.request

# What the dashboard's pages ask for (common/dashboard/web/app.js): the overview polls the
# first four, the campaign page the last three.
ENDPOINTS = [
    "/api/summary",
    "/api/campaigns",
    "/api/agents?sort=state&limit=50",
    "/api/campaigns/1?status=started&sort=-task&limit=30",
    "/api/campaigns/1?offset=0&limit=50",
    "/api/campaigns/1/distribution",
    "/api/campaigns/1/curve?limit=1000",
]


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def process_tree(root):
    """{pid: command line} of `root` and all its descendants."""
    parent, cmdline = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            pass
    tree, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        tree[pid] = cmdline.get(pid, "")
        frontier += [p for p, pp in parent.items() if pp == pid]
    return tree


def probe(port, path, timeout):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            r.read()
            status = r.status
    except Exception as e:  # refused before the dashboard starts, 404 before campaign 1
        status = getattr(e, "code", 0)
    return status, (time.monotonic() - start) * 1000.0


def svg_plot(path, series, title, ylabel):
    """A small line plot: series = {name: [(t, y), ...]}."""
    w, h, left, bottom = 720, 360, 60, 40
    ts = [t for pts in series.values() for t, _ in pts] or [0, 1]
    ys = [y for pts in series.values() for _, y in pts] or [0, 1]
    t0, t1, y1 = min(ts), max(ts) or 1, max(ys) * 1.1 or 1
    sx = lambda t: left + (t - t0) / max(t1 - t0, 1e-9) * (w - left - 20)
    sy = lambda y: h - bottom - y / y1 * (h - bottom - 30)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<text x="{w/2}" y="18" text-anchor="middle">{title}</text>',
           f'<line x1="{left}" y1="{h-bottom}" x2="{w-20}" y2="{h-bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="30" x2="{left}" y2="{h-bottom}" stroke="black"/>',
           f'<text x="{w/2}" y="{h-8}" text-anchor="middle">seconds since start</text>',
           f'<text x="14" y="{h/2}" transform="rotate(-90 14 {h/2})" text-anchor="middle">{ylabel}</text>']
    for k in range(5):
        y = y1 * k / 4
        out.append(f'<text x="{left-6}" y="{sy(y)+4:.0f}" text-anchor="end">{y:.0f}</text>')
        t = t0 + (t1 - t0) * k / 4
        out.append(f'<text x="{sx(t):.0f}" y="{h-bottom+16}" text-anchor="middle">{t:.0f}</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = colors[i % len(colors)]
        d = " ".join(f"{sx(t):.1f},{sy(y):.1f}" for t, y in pts)
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{d}"/>')
        out.append(f'<text x="{left+10}" y="{40+16*i}" fill="{c}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=5.0, help="per API request, seconds")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command after --")
    os.makedirs(a.out, exist_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen(cmd)
    memory, latency = [], []
    while proc.poll() is None:
        t = time.monotonic() - start
        # The coordinator (and dashboard) is the `fp-sim run` process; agent hosts are
        # `fp-sim host` processes; wrappers such as /usr/bin/time count as neither.
        tree = {p: c.split() for p, c in process_tree(proc.pid).items()}
        fp_sim = {p: a[1] for p, a in tree.items() if len(a) > 1 and a[0].endswith("fp-sim")}
        main_mb = sum(rss_mb(p) for p, sub in fp_sim.items() if sub == "run")
        hosts = [p for p, sub in fp_sim.items() if sub == "host"]
        memory.append((t, main_mb, sum(rss_mb(p) for p in hosts), len(hosts)))
        for path in ENDPOINTS:
            status, ms = probe(a.port, path, a.timeout)
            latency.append((t, path, status, ms))
        time.sleep(max(0.0, a.interval - (time.monotonic() - start - t)))
    rc = proc.wait()
    with open(os.path.join(a.out, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "coordinator_rss_mb", "hosts_rss_mb", "hosts"])
        w.writerows([(f"{t:.1f}", f"{m:.1f}", f"{k:.1f}", n) for t, m, k, n in memory])
    with open(os.path.join(a.out, "latency.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "endpoint", "http_status", "ms"])
        w.writerows([(f"{t:.1f}", p, s, f"{ms:.1f}") for t, p, s, ms in latency])
    svg_plot(os.path.join(a.out, "memory.svg"),
             {"fp-sim run (coordinator + dashboard)": [(t, m) for t, m, _, _ in memory],
              "agent-host processes (sum)": [(t, k) for t, _, k, _ in memory]},
             "Resident memory during the run", "MB")
    print(f"command exited {rc} after {time.monotonic() - start:.1f} s")
    if memory:
        coord = [m for _, m, _, _ in memory]
        total = [m + k for _, m, k, _ in memory]
        print(f"coordinator RSS MB: first {coord[0]:.0f}, median {statistics.median(coord):.0f}, "
              f"max {max(coord):.0f}, last {coord[-1]:.0f}; all processes max {max(total):.0f}")
    for path in ENDPOINTS:
        ok = [ms for _, p, s, ms in latency if p == path and s == 200]
        if ok:
            ok.sort()
            print(f"{path:<20} {len(ok)} answers: median {statistics.median(ok):.1f} ms, "
                  f"p95 {ok[int(0.95 * (len(ok) - 1))]:.1f} ms, max {ok[-1]:.1f} ms")
    return rc


if __name__ == "__main__":
    sys.exit(main())
