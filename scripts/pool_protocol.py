#!/usr/bin/env python3
"""Pools the per-seed reports of one held-out-protocol experiment (docs/PROTOCOL.md).

fp-sim report summarizes one run (one seed). The protocol's test summary pools the three
seeds' individuals, so this script reads what the C++ reports wrote -- each campaign's
results.json under docs/results/<experiment>_seed<N>/campaigns/ -- and recomputes the paired
statistics over the pooled individuals with the definitions of docs/PROTOCOL.md section 6,
ported line by line from common/stats (bootstrap.cpp, wilcoxon.cpp, summary.cpp):

  - mean and median of b - a;
  - 95% percentile bootstrap CI of the mean difference: 10,000 resamples of individuals with
    replacement, SplitMix64 seeded with 1, indices drawn without modulo bias;
  - two-sided paired Wilcoxon signed-rank test, zero differences dropped, mid-ranks, exact
    (over doubled mid-ranks) up to 50 non-zero differences, else the normal approximation
    with tie correction and a continuity correction of 0.5;
  - improved / worse: |b - a| beyond one evaluation sample (1 / eval samples).

It is a pooling of the C++ outputs, not a second implementation of the methods. `--check`
recomputes one seed's comparisons and compares them with that seed's comparisons.csv (written
by the C++ code) to show that the port gives the same numbers.

Usage:
  scripts/pool_protocol.py --out docs/results/fmnist_cnn_test_pooled \
      docs/results/fmnist_cnn_test_seed101 docs/results/fmnist_cnn_test_seed102 ...
  scripts/pool_protocol.py --check docs/results/fmnist_cnn_test_seed101
Python 3 standard library only.
"""
import argparse
import array
import csv
import glob
import json
import math
import os
import sys

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        limit = MASK - MASK % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


def mean(v):
    s = 0.0
    for x in v:
        s += x
    return s / len(v) if v else 0.0


def quantile(v, q):
    if not v:
        return 0.0
    v = sorted(v)
    pos = min(max(q, 0.0), 1.0) * (len(v) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


_INDICES = {}  # (n, resamples, seed) -> the resampling indices: they do not depend on the values


def resampling_indices(n, resamples, seed):
    key = (n, resamples, seed)
    if key not in _INDICES:
        rng = SplitMix64(seed)
        _INDICES[key] = array.array("I", (rng.below(n) for _ in range(resamples * n)))
    return _INDICES[key]


def bootstrap_mean_ci(values, resamples=10000, confidence=0.95, seed=1):
    if not values:
        return 0.0, 0.0
    if len(values) == 1:
        return values[0], values[0]
    n = len(values)
    idx = resampling_indices(n, resamples, seed)
    means = []
    for r in range(resamples):
        s = 0.0  # summed in order, as the C++ loop does (no compensated summation)
        for i in idx[r * n:(r + 1) * n]:
            s += values[i]
        means.append(s / n)
    alpha = 1.0 - confidence
    return quantile(means, alpha / 2), quantile(means, 1 - alpha / 2)


def mid_ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])  # stable, like stable_sort
    ranks = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def exact_p(doubled, observed):
    total = sum(doubled)
    prob = [0.0] * (total + 1)
    prob[0] = 1.0
    reach = 0
    for r in doubled:
        for s in range(reach, -1, -1):
            p = prob[s] * 0.5
            prob[s] = p
            prob[s + r] += p
        reach += r
    lower = upper = 0.0
    for s in range(total + 1):
        if s <= observed:
            lower += prob[s]
        if s >= observed:
            upper += prob[s]
    return min(1.0, 2.0 * min(lower, upper))


def wilcoxon_p(differences, exact_max_n=50, zero_tolerance=1e-12):
    d = [x for x in differences if abs(x) > zero_tolerance]
    if not d:
        return 1.0
    ranks, _ = mid_ranks([abs(x) for x in d])
    doubled, observed, w_plus = [], 0, 0.0
    for x, r in zip(d, ranks):
        doubled.append(int(round(2.0 * r)))
        if x > 0:
            w_plus += r
            observed += doubled[-1]
    if len(d) <= exact_max_n:
        return exact_p(doubled, observed)
    _, ties = mid_ranks([abs(x) for x in d])
    n = float(len(d))
    mu = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0
    for t in ties:
        var -= (t * t * t - t) / 48.0
    dev = w_plus - mu
    dev = max(0.0, dev - 0.5) if dev > 0 else min(0.0, dev + 0.5)
    z = dev / math.sqrt(var) if var > 0 else 0.0
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def paired(a, b, resolution):
    diff = [y - x for x, y in zip(a, b)]
    improved = sum(1 for x in diff if x > resolution + 1e-9)
    worse = sum(1 for x in diff if x < -resolution - 1e-9)
    lo, hi = bootstrap_mean_ci(diff)
    return {"n": len(a), "mean_a": mean(a), "mean_b": mean(b), "mean_diff": mean(diff),
            "median_diff": quantile(diff, 0.5), "ci_low": lo, "ci_high": hi,
            "p_wilcoxon": wilcoxon_p(diff), "improved": improved, "worse": worse}


def load_seed(report_dir):
    """[(variant, individual dict)] in the order the C++ report reads them."""
    rows = []
    files = sorted(glob.glob(os.path.join(report_dir, "campaigns", "*", "results.json")),
                   key=lambda p: json.load(open(p))["id"])
    for path in files:
        c = json.load(open(path))
        parts = c["name"].split("/")
        variant = parts[1] if len(parts) > 1 else "(default)"
        for ind in c["individuals"]:
            if ind.get("general") is None:
                continue
            rows.append((variant, ind))
    return rows


def accuracy(ind, method):
    if method == "general":
        return ind.get("general")
    m = ind.get("methods", {}).get(method)
    if m is not None and m.get("accuracy") is not None:
        return m["accuracy"]
    return ind.get(method) if method in ("fine_prune", "finetune") else None


def method_names(rows):
    first = ["general", "fine_prune", "finetune", "svd"]
    seen = set()
    for _, ind in rows:
        seen.update(ind.get("methods", {}).keys())
    return [m for m in first if m == "general" or m in seen] + sorted(seen - set(first))


def comparisons(rows_by_seed, variant):
    rows = [(s, ind) for s, seed_rows in rows_by_seed for v, ind in seed_rows if v == variant]
    names = method_names([(variant, ind) for _, ind in rows])
    pairs = [(m, "general") for m in names if m != "general"]
    pairs += [("fine_prune", m) for m in names if m not in ("general", "fine_prune")]
    out = []
    for b_name, a_name in pairs:
        a, b, seeds, compute, seconds, evals, cut, sparsity = [], [], [], [], [], [], [], []
        for seed, ind in rows:
            va, vb = accuracy(ind, a_name), accuracy(ind, b_name)
            if va is None or vb is None:
                continue
            a.append(va)
            b.append(vb)
            seeds.append(seed)
            m = ind.get("methods", {}).get(b_name, {})
            compute.append(m.get("compute_macs", 0) or 0)
            seconds.append(m.get("wall_seconds", 0) or 0)
            cut.append(m.get("mac_reduction", 0) or 0)
            sparsity.append(m.get("sparsity", 0) or 0)
            evals.append(ind.get("eval_samples", 0))
        if not a:
            continue
        e = min(x for x in evals if x > 0) if any(evals) else 0
        r = paired(a, b, 1.0 / e if e > 0 else 0.0)
        r.update({"variant": variant, "method": b_name, "versus": a_name,
                  "b_compute_GMAC": mean(compute) / 1e9, "b_seconds": mean(seconds),
                  "b_mac_reduction": mean(cut), "b_sparsity": mean(sparsity)})
        per_seed = []
        for s, _ in rows_by_seed:
            d = [y - x for x, y, t in zip(a, b, seeds) if t == s]
            if d:
                per_seed.append("%s:%+.1f" % (s, 100 * mean(d)))
        r["per_seed_mean_diff"] = " ".join(per_seed)
        out.append(r)
    return out


COLUMNS = ["variant", "method", "versus", "n", "mean_a", "mean_b", "mean_diff", "median_diff",
           "ci_low", "ci_high", "p_wilcoxon", "improved", "worse", "b_compute_GMAC",
           "b_seconds", "b_mac_reduction", "b_sparsity", "per_seed_mean_diff"]


def write(out_dir, results, sources):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "pooled_comparisons.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in results:
            w.writerow(["%.17g" % r[c] if isinstance(r[c], float) else r[c] for c in COLUMNS])
    with open(os.path.join(out_dir, "pooled_comparisons.md"), "w") as f:
        f.write("Pooled over: %s (scripts/pool_protocol.py, from each seed's results.json;\n"
                "statistics as in docs/PROTOCOL.md section 6). Accuracies in %%, differences "
                "in points; per_seed: each seed's mean difference.\n\n" % ", ".join(sources))
        f.write("| variant | method | versus | n | mean_a | mean_b | mean_diff | median_diff | "
                "95% CI | p_wilcoxon | improved | worse | b_compute_GMAC | b_seconds | "
                "b_MAC_cut | b_sparsity | per_seed |\n")
        f.write("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
        for r in results:
            f.write("| %s | %s | %s | %d | %.1f | %.1f | %+.1f | %+.1f | [%+.1f, %+.1f] | %.2g "
                    "| %d | %d | %.3g | %.2f | %.1f%% | %.1f%% | %s |\n" % (
                        r["variant"], r["method"], r["versus"], r["n"], 100 * r["mean_a"],
                        100 * r["mean_b"], 100 * r["mean_diff"], 100 * r["median_diff"],
                        100 * r["ci_low"], 100 * r["ci_high"], r["p_wilcoxon"], r["improved"],
                        r["worse"], r["b_compute_GMAC"], r["b_seconds"],
                        100 * r["b_mac_reduction"], 100 * r["b_sparsity"],
                        r["per_seed_mean_diff"]))


def variant_comparisons(rows_by_seed, reference):
    """Each variant's Fine-Pruning against the reference variant's, paired by individual
    (and seed): the evidence for the development decisions (docs/PROTOCOL.md section 4)."""
    out = []
    for v in variants_of(rows_by_seed):
        if v == reference:
            continue
        a, b, seeds, evals = [], [], [], []
        for seed, rows in rows_by_seed:
            ref = {ind["individual"]: ind for var, ind in rows if var == reference}
            for var, ind in rows:
                r = ref.get(ind["individual"])
                if var != v or r is None:
                    continue
                va, vb = accuracy(r, "fine_prune"), accuracy(ind, "fine_prune")
                if va is None or vb is None:
                    continue
                a.append(va)
                b.append(vb)
                seeds.append(seed)
                evals.append(ind.get("eval_samples", 0))
        if not a:
            continue
        e = min(x for x in evals if x > 0) if any(evals) else 0
        r = paired(a, b, 1.0 / e if e > 0 else 0.0)
        r.update({"variant": v, "method": "fine_prune", "versus": reference + " fine_prune",
                  "b_compute_GMAC": 0.0, "b_seconds": 0.0, "b_mac_reduction": 0.0,
                  "b_sparsity": 0.0})
        r["per_seed_mean_diff"] = " ".join(
            "%s:%+.1f" % (s, 100 * mean([y - x for x, y, t in zip(a, b, seeds) if t == s]))
            for s, _ in rows_by_seed if s in seeds)
        out.append(r)
    return out


def variants_of(rows_by_seed):
    out = []
    for _, rows in rows_by_seed:
        for v, _ in rows:
            if v not in out:
                out.append(v)
    return out


def check(report_dir):
    rows_by_seed = [(os.path.basename(report_dir.rstrip("/")), load_seed(report_dir))]
    mine = {(r["variant"], r["method"], r["versus"]): r
            for v in variants_of(rows_by_seed) for r in comparisons(rows_by_seed, v)}
    bad = 0
    with open(os.path.join(report_dir, "comparisons.csv")) as f:
        for row in csv.DictReader(f):
            r = mine.get((row["variant"], row["method"], row["versus"]))
            if r is None:
                print("missing", row["variant"], row["method"], row["versus"])
                bad += 1
                continue
            for k in ("n", "mean_diff", "median_diff", "ci_low", "ci_high", "p_wilcoxon",
                      "improved", "worse"):
                if not math.isclose(float(row[k]), float(r[k]), rel_tol=1e-4, abs_tol=1e-9):
                    print("differs", row["variant"], row["method"], row["versus"], k, row[k],
                          r[k])
                    bad += 1
    print("check %s: %d comparison(s), %d difference(s)" % (report_dir, len(mine), bad))
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports", nargs="+", help="per-seed report folders (fp-sim --report)")
    ap.add_argument("--out", help="folder for pooled_comparisons.md/.csv")
    ap.add_argument("--versus-variant", metavar="NAME",
                    help="also compare every variant's Fine-Pruning with this variant's")
    ap.add_argument("--check", action="store_true",
                    help="recompute each folder's comparisons.csv and compare")
    args = ap.parse_args()
    if args.check:
        sys.exit(0 if all(check(r) for r in args.reports) else 1)
    if not args.out:
        ap.error("--out is required unless --check")
    rows_by_seed = [(os.path.basename(r.rstrip("/")).rsplit("_seed", 1)[-1], load_seed(r))
                    for r in args.reports]
    results = [r for v in variants_of(rows_by_seed) for r in comparisons(rows_by_seed, v)]
    if args.versus_variant:
        results += variant_comparisons(rows_by_seed, args.versus_variant)
    write(args.out, results, [os.path.basename(r.rstrip("/")) for r in args.reports])


if __name__ == "__main__":
    main()
