#!/usr/bin/env python3
"""Reference values for tests/test_stats.cpp, without scipy: exact Wilcoxon signed-rank
p-values by enumerating every sign pattern of the mid-ranks, and the normal
approximation (tie, Pratt zero and continuity corrections) by the textbook formulas."""
import itertools
import math
from collections import Counter


def ranks(vals):
    idx = sorted(range(len(vals)), key=lambda i: vals[i])
    r = [0] * len(vals)
    i = 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and vals[idx[j + 1]] == vals[idx[i]]:
            j += 1
        for k in range(i, j + 1):
            r[idx[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def exact(d):
    d = [x for x in d if x != 0]
    r = ranks([abs(x) for x in d])
    w = sum(ri for ri, x in zip(r, d) if x > 0)
    lo = hi = tot = 0
    for signs in itertools.product([0, 1], repeat=len(d)):
        s = sum(ri for ri, g in zip(r, signs) if g)
        tot += 1
        lo += s <= w + 1e-12
        hi += s >= w - 1e-12
    return w, min(1, 2 * min(lo, hi) / tot)


def normal(d, cont=True, pratt=False):
    nz = [x for x in d if x != 0]
    if pratt:
        r = ranks([abs(x) for x in d])
        w = sum(ri for ri, x in zip(r, d) if x > 0)
        n, n0 = len(d), len(d) - len(nz)
        rn = [ri for ri, x in zip(r, d) if x != 0]
    else:
        r = ranks([abs(x) for x in nz])
        w = sum(ri for ri, x in zip(r, nz) if x > 0)
        n, n0, rn = len(nz), 0, r
    mn = (n * (n + 1) - n0 * (n0 + 1)) / 4
    var = (n * (n + 1) * (2 * n + 1) - n0 * (n0 + 1) * (2 * n0 + 1)) / 24
    for t in Counter(rn).values():
        var -= (t ** 3 - t) / 48
    dev = w - mn
    if cont:
        dev = max(0, dev - 0.5) if dev > 0 else min(0, dev + 0.5)
    z = dev / math.sqrt(var)
    return w, z, math.erfc(abs(z) / math.sqrt(2))


if __name__ == "__main__":
    for d in ([1, 2, 3, 4, 5], [1, -2, 3, 4, 5], [1, 1, -1, 2],
              [0.5, -0.25, 0.75, 1.0, -0.1, 0.3, 0.2, 0.9, -0.6, 0.05], [0, 0, 1, 2, -3, 4]):
        print(d, exact(d))
    d = [(i % 7) - 2 for i in range(60)]
    print("wilcox", normal(d))
    print("no continuity", normal(d, cont=False))
    print("pratt", normal(d, pratt=True))
