"""Independent re-implementation of fineprune's paired statistics (PROTOCOL section 6).

- percentile bootstrap of the mean difference: 10,000 resamples, SplitMix64 seed 1,
  index = rejection-sampled below(n), quantile with linear interpolation (as common/stats);
- two-sided paired Wilcoxon signed-rank, zeros dropped, mid-ranks, exact (<= 50 non-zero)
  else normal approximation with tie correction and continuity 0.5;
- improved / worse beyond one evaluation sample (1/min eval_samples).
Plain Python, no numpy.
"""
import math

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
        limit = MASK - (MASK % n)
        while True:
            x = self.next()
            if x < limit:
                return x % n


_INDEX_CACHE = {}


def index_stream(n, resamples=10000, seed=1):
    key = (n, resamples, seed)
    if key not in _INDEX_CACHE:
        rng = SplitMix64(seed)
        _INDEX_CACHE[key] = [[rng.below(n) for _ in range(n)] for _ in range(resamples)]
    return _INDEX_CACHE[key]


def quantile(v, q):
    v = sorted(v)
    if not v:
        return 0.0
    pos = min(max(q, 0.0), 1.0) * (len(v) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def bootstrap_ci(values, resamples=10000, seed=1, conf=0.95):
    n = len(values)
    if n == 0:
        return (0.0, 0.0)
    if n == 1:
        return (values[0], values[0])
    means = []
    for idx in index_stream(n, resamples, seed):
        s = 0.0
        for i in idx:
            s += values[i]
        means.append(s / n)
    a = 1 - conf
    return (quantile(means, a / 2), quantile(means, 1 - a / 2))


def _midranks(mags, tol):
    order = sorted(range(len(mags)), key=lambda i: mags[i])
    ranks = [0.0] * len(mags)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order):
            f, nx = mags[order[i]], mags[order[j + 1]]
            if nx - f <= tol * max(abs(f), abs(nx)):
                j += 1
            else:
                break
        r = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = r
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def wilcoxon(diffs, tie_tol=1e-9, zero_tol=1e-12, exact_max=50, continuity=True):
    d = [x for x in diffs if abs(x) > zero_tol]
    if not d:
        return 1.0
    mags = [abs(x) for x in d]
    ranks, ties = _midranks(mags, tie_tol)
    if len(d) <= exact_max:
        doubled = [int(round(2 * r)) for r in ranks]
        obs = sum(dr for dr, x in zip(doubled, d) if x > 0)
        total = sum(doubled)
        # exact distribution of the doubled W+ under random signs (integer counts)
        counts = [0] * (total + 1)
        counts[0] = 1
        reach = 0
        for r in doubled:
            for s in range(reach, -1, -1):
                if counts[s]:
                    counts[s + r] += counts[s]
            reach += r
        denom = 2 ** len(doubled)
        lower = sum(counts[: obs + 1])
        upper = sum(counts[obs:])
        return min(1.0, 2.0 * min(lower, upper) / denom)
    n = len(d)
    wplus = sum(r for r, x in zip(ranks, d) if x > 0)
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0
    for t in ties:
        var -= (t ** 3 - t) / 48.0
    dev = wplus - mean
    if continuity:
        dev = max(0.0, dev - 0.5) if dev > 0 else min(0.0, dev + 0.5)
    z = dev / math.sqrt(var) if var > 0 else 0.0
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def t_ci(values, conf=0.95):
    """Student t interval (for a sanity cross-check only; not the protocol's method)."""
    n = len(values)
    m = sum(values) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in values) / (n - 1))
    # t quantile by bisection on the regularized incomplete beta (df = n-1)
    df = n - 1
    q = _t_quantile(1 - (1 - conf) / 2, df)
    h = q * sd / math.sqrt(n)
    return (m - h, m + h)


def _t_cdf(t, df):
    x = df / (df + t * t)
    ib = _betainc(df / 2.0, 0.5, x)
    return 1 - 0.5 * ib if t > 0 else 0.5 * ib


def _betainc(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(math.log(x) * a + math.log(1 - x) * b + lbeta)
    if x < (a + 1) / (a + b + 2):
        return front * _cf(a, b, x) / a
    return 1 - front * _cf(b, a, 1 - x) / b


def _cf(a, b, x):
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 300):
        m2 = 2 * m
        num = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        d = 1 + num * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + num / c
        f *= d * c
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        d = 1 + num * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + num / c
        delta = d * c
        f *= delta
        if abs(delta - 1) < 1e-14:
            break
    return f


def _t_quantile(p, df):
    lo, hi = 0.0, 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def paired(a, b, resolution):
    diff = [y - x for x, y in zip(a, b)]
    n = len(diff)
    imp = sum(1 for x in diff if x > resolution + 1e-9)
    wor = sum(1 for x in diff if x < -resolution - 1e-9)
    return {
        "n": n,
        "mean_a": sum(a) / n,
        "mean_b": sum(b) / n,
        "mean_diff": sum(diff) / n,
        "median_diff": quantile(diff, 0.5),
        "ci": bootstrap_ci(diff),
        "p": wilcoxon(diff),
        "p_old": wilcoxon(diff, tie_tol=0.0),  # ties only when doubles are equal (pre-76b0789)
        "improved": imp,
        "worse": wor,
        "diff": diff,
    }
