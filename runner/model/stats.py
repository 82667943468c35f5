"""Statistics for timings: an estimate with its uncertainty, a stability verdict, and comparisons that
claim a difference only when the samples show one (the pyperf / asv approach).

Pure functions of lists of floats; no numpy needed, so reports stay cheap to render. The bootstrap is
seeded from the samples themselves, so the same samples always give the same interval (a report
re-rendered from results.json is byte-identical).
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
from typing import Callable, Dict, List, Optional, Sequence, Tuple

Estimator = Callable[[Sequence[float]], float]

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
# A difference must be statistically clear AND large enough to matter before a report states it.
ALPHA = 0.01
MIN_EFFECT = 0.05


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def seeded_rng(values: Sequence[float]) -> random.Random:
    """A random generator seeded from the values themselves: the same values, the same resamples."""
    digest = hashlib.sha256(",".join("%.9g" % v for v in values).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def bootstrap_interval(values: Sequence[float], estimator: Estimator = median,
                       resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE) -> Tuple[float, float]:
    """Percentile bootstrap interval of `estimator` over the samples (deterministic for given samples)."""
    values = list(values)
    if len(values) < 2:
        return (values[0], values[0]) if values else (math.nan, math.nan)
    rng = seeded_rng(values)
    n = len(values)
    return percentile_bounds([estimator([values[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples)],
                             confidence)


def percentile_bounds(estimates: Sequence[float], confidence: float = CONFIDENCE) -> Tuple[float, float]:
    """The percentile bootstrap interval's ends: the (1-confidence)/2 and (1+confidence)/2 points of the
    resampled estimates (one rule for every interval here)."""
    ordered = sorted(estimates)
    resamples = len(ordered)
    low_index = int(math.floor((1 - confidence) / 2 * resamples))
    high_index = min(resamples - 1, int(math.ceil((1 + confidence) / 2 * resamples)) - 1)
    return ordered[low_index], ordered[high_index]


def ratio_interval(a: Sequence[float], b: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                   confidence: float = CONFIDENCE) -> Optional[Tuple[float, float]]:
    """Percentile bootstrap interval of median(a) / median(b), each sample resampled on its own
    (deterministic for given samples); None without samples on both sides or with a zero median."""
    a, b = list(a), list(b)
    if not a or not b or not all(v > 0 for v in b):
        return None
    rng = seeded_rng(a + [math.nan] + b)
    ratios = [median([a[rng.randrange(len(a))] for _ in a]) / median([b[rng.randrange(len(b))] for _ in b])
              for _ in range(resamples)]
    return percentile_bounds(ratios, confidence)


def relative_width(estimate: float, interval: Tuple[float, float]) -> float:
    """Half the interval's width over the estimate: 0.02 means +-2%."""
    if not estimate:
        return math.inf
    return (interval[1] - interval[0]) / 2 / estimate


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _exact_u_distribution(n1: int, n2: int) -> List[float]:
    """Probability of each U (0..n1*n2) under H0 without ties: counts of rank arrangements (Mann & Whitney's
    recursion), normalised."""
    # counts[i][j] is a list: number of arrangements of i x's and j y's giving each U.
    size = n1 * n2 + 1
    previous_row: List[List[int]] = [[1] + [0] * (size - 1) for _ in range(n2 + 1)]  # i = 0: U = 0 only
    for _ in range(n1):
        row: List[List[int]] = [[0] * size for _ in range(n2 + 1)]
        row[0][0] = 1
        for j in range(1, n2 + 1):
            # the largest value is an x (adds j to U: it beats all j y's) or a y (adds nothing)
            from_x = previous_row[j]
            from_y = row[j - 1]
            row[j] = [(from_x[u - j] if u >= j else 0) + from_y[u] for u in range(size)]
        previous_row = row
    counts = previous_row[n2]
    total = float(sum(counts))
    return [c / total for c in counts]


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test: exact for small samples without ties, normal
    approximation with tie correction otherwise."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    tie_term = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        tie_term += t ** 3 - t
        i = j + 1
    rank_sum_a = sum(r for r, (_, group) in zip(ranks, pooled) if group == 0)
    u_a = rank_sum_a - n1 * (n1 + 1) / 2
    u = min(u_a, n1 * n2 - u_a)
    if tie_term == 0 and n1 * n2 <= 400:
        dist = _exact_u_distribution(n1, n2)
        p = 2 * sum(dist[: int(math.floor(u)) + 1])
        return min(1.0, p)
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (abs(u_a - n1 * n2 / 2) - 0.5) / sigma  # continuity correction
    return min(1.0, 2 * _normal_sf(max(0.0, z)))


def compare(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA,
            min_effect: float = MIN_EFFECT) -> Dict[str, object]:
    """Is A faster or slower than B? -> {verdict: "faster"|"slower"|"same", ratio, p}. "same" means no
    measurable difference: not significant at alpha, or a median gap smaller than min_effect."""
    if not a or not b:
        return {"verdict": "same", "ratio": None, "p": None}
    ratio = median(a) / median(b)
    p = mann_whitney_p(a, b)
    verdict = "same"
    if p < alpha and abs(ratio - 1) >= min_effect:
        verdict = "faster" if ratio < 1 else "slower"
    return {"verdict": verdict, "ratio": round(ratio, 4), "p": float("%.3g" % p)}


def summarize_samples(values: Sequence[float], max_rel_width: float) -> Dict[str, object]:
    """Headline figure (median), its bootstrap 95% interval, and whether it is tight enough to quote."""
    values = list(values)
    if not values:
        return {"estimate": None, "interval": None, "rel_width": None, "stable": False}
    estimate = median(values)
    interval = bootstrap_interval(values)
    width = relative_width(estimate, interval)
    return {"estimate": round(estimate, 4), "interval": [round(interval[0], 4), round(interval[1], 4)],
            "rel_width": round(width, 4) if math.isfinite(width) else None,
            "stable": len(values) >= 3 and math.isfinite(width) and width <= max_rel_width}


def max_over_min(values: Sequence[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v]
    return round(max(present) / min(present), 3) if len(present) >= 2 else None
