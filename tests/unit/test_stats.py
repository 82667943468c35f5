"""runner.model.stats against a reference implementation (SciPy) and against facts a reader can check by hand."""

import random

import pytest
from scipy import stats as scipy_stats

from runner.model import stats
from runner.model.stats import bootstrap_interval, compare, mann_whitney_p, relative_width, summarize_samples


@pytest.mark.parametrize("seed", range(12))
def test_mann_whitney_matches_scipy(seed):
    rng = random.Random(seed)
    n1, n2 = rng.randint(2, 12), rng.randint(2, 12)
    shift = rng.choice([0.0, 0.05, 0.3])
    a = [round(rng.gauss(1.0, 0.1), 3) for _ in range(n1)]
    b = [round(rng.gauss(1.0 + shift, 0.1), 3) for _ in range(n2)]
    if seed % 3 == 0:  # ties: the normal approximation with tie correction
        a += a[:2]
    ties = len(set(a + b)) < len(a + b)
    method = "asymptotic" if ties else "exact"
    expected = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method=method).pvalue
    assert mann_whitney_p(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_fully_separated_samples_of_five_have_the_textbook_p_value():
    # 2 of the C(10,5) = 252 equally likely orderings are this extreme: p = 2/252.
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)


def test_compare_needs_significance_and_effect():
    fast = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98, 1.01, 0.99, 1.00, 1.01]
    assert compare(fast, [x * 1.30 for x in fast])["verdict"] == "faster"
    assert compare([x * 1.30 for x in fast], fast)["verdict"] == "slower"
    # Significant (every sample apart) but only 2% apart: below the minimum effect, no claim.
    assert compare(fast, [x * 1.02 + 0.0001 for x in fast])["verdict"] == "same"
    # Large gap on too few samples to be significant at p < 0.01: no claim.
    assert compare([1.0, 1.1], [1.5, 1.6])["verdict"] == "same"


def test_bootstrap_interval_is_deterministic_and_covers_the_median():
    values = [0.51, 0.49, 0.50, 0.52, 0.55, 0.50, 0.48, 0.50]
    first, second = bootstrap_interval(values), bootstrap_interval(list(values))
    assert first == second
    assert first[0] <= 0.50 <= first[1]
    assert bootstrap_interval([0.5]) == (0.5, 0.5)


def test_stability_verdict_follows_the_interval_width():
    tight = summarize_samples([1.00, 1.01, 0.99, 1.00, 1.00, 1.01, 0.99], max_rel_width=0.02)
    assert tight["stable"] is True and tight["estimate"] == 1.0
    wide = summarize_samples([1.0, 1.6, 0.8, 1.3, 0.9, 1.5, 1.1], max_rel_width=0.02)
    assert wide["stable"] is False and wide["rel_width"] > 0.02
    assert summarize_samples([1.0, 1.0], max_rel_width=0.5)["stable"] is False  # too few samples to judge
    assert relative_width(2.0, (1.9, 2.1)) == pytest.approx(0.05)


def test_the_ratio_interval_is_deterministic_and_holds_the_ratio():
    slow = [3.20, 3.25, 3.18, 3.22, 3.21, 3.19, 3.24, 3.20, 3.23, 3.20]
    fast = [w * 0.5 for w in slow]
    first = stats.ratio_interval(slow, fast)
    assert first is not None and first == stats.ratio_interval(slow, fast)
    assert first[0] <= stats.median(slow) / stats.median(fast) <= first[1]
    assert stats.ratio_interval([], fast) is None and stats.ratio_interval(slow, [0.0, 1.0]) is None
