"""Wilson intervals, summaries and win rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from flowem.metrics import (
    bootstrap_interval,
    paired_difference,
    summarize,
    wilson_interval,
    win_rate,
)


def test_wilson_interval_known_value():
    low, high = wilson_interval(7, 20)
    assert (round(low, 4), round(high, 4)) == (0.1812, 0.5671)


def test_wilson_interval_matches_the_closed_form():
    k, n, z = 13, 40, stats.norm.ppf(0.95)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert wilson_interval(k, n, confidence=0.90) == pytest.approx((centre - half, centre + half))


def test_wilson_interval_edges_and_errors():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and 0.0 < high < 0.35
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_summary_interval_is_students_t():
    values = np.array([1.0, 2.0, 4.0, 7.0])
    s = summarize(values)
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2
    assert (s.ci_low, s.ci_high) == pytest.approx((3.5 - half, 3.5 + half))
    d = summarize([5.0]).as_dict("psnr_")
    assert d["psnr_mean"] == 5.0 and d["psnr_std"] is None and d["psnr_n"] == 1
    with pytest.raises(ValueError, match="non-finite"):
        summarize([1.0, np.nan])


def test_win_rate_counts_strict_wins():
    a = np.array([3.0, 2.0, 5.0, 1.0, 4.0])
    b = np.array([1.0, 2.0, 4.0, 2.0, 3.0])
    w = win_rate(a, b)
    assert (w.wins, w.ties, w.n, w.rate) == (3, 1, 5, 0.6)
    assert (w.ci_low, w.ci_high) == pytest.approx(wilson_interval(3, 5))
    assert win_rate(a, b, higher_is_better=False).wins == 1


@pytest.mark.parametrize("n", [5, 40, 128])
def test_wilson_interval_of_none_and_all_won_is_analytic(n):
    z2 = stats.norm.ppf(0.975) ** 2
    assert wilson_interval(0, n) == pytest.approx((0.0, z2 / (n + z2)), abs=1e-12)
    assert wilson_interval(n, n) == pytest.approx((n / (n + z2), 1.0), abs=1e-12)


def test_paired_interval_contains_the_known_mean_difference():
    """Particles vary far more than the methods differ: the paired interval still finds the
    difference, and covers it in about 95% of repetitions."""
    truth, covered = 0.3, 0
    for seed in range(400):
        gen = np.random.default_rng(seed)
        particle = gen.normal(20.0, 5.0, size=128)  # e.g. a per-particle PSNR
        a = particle + truth + gen.normal(0, 0.5, size=128)
        s = paired_difference(a, particle)
        covered += s.ci_low <= truth <= s.ci_high
        if seed == 0:
            assert s.ci_low > 0.1 and s.ci_high < 0.5  # unpaired, +-1.2 would not exclude 0
    assert 0.92 <= covered / 400 <= 0.98
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1.0, 2.0], [1.0])


def test_bootstrap_interval_covers_the_mean_and_is_reproducible():
    covered = 0
    for seed in range(100):
        values = np.random.default_rng(seed).normal(1.0, 2.0, size=64)
        low, high = bootstrap_interval(
            lambda i, v=values: v[i].mean(), 64, np.random.default_rng(seed), resamples=400
        )
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / 100 <= 1.0
    again = [
        bootstrap_interval(lambda i: values[i].mean(), 64, np.random.default_rng(3))
        for _ in range(2)
    ]
    assert again[0] == again[1]
    constant = bootstrap_interval(lambda i: 2.5, 10, np.random.default_rng(0), resamples=20)
    assert constant == (2.5, 2.5)
