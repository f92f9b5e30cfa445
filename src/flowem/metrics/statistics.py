"""Aggregation of per-image metrics: mean, spread and confidence intervals, win rates.

Every summary is computed from one value per image (or per particle), never from a single
value over a whole batch tensor, so that the spread across images is visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n``.

    Uses ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``; e.g.
    ``wilson_interval(7, 20) == (0.1812, 0.5671)`` to four decimals.
    """
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and a Student-t confidence interval of the mean."""

    values: np.ndarray
    mean: float
    std: float
    ci_low: float
    ci_high: float
    confidence: float

    @property
    def n(self) -> int:
        return int(self.values.size)

    def as_dict(self, prefix: str = "") -> dict[str, float | int | None]:
        """Plain values for JSON (NaN, e.g. the spread of a single value, becomes None)."""

        def plain(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {
            f"{prefix}mean": plain(self.mean),
            f"{prefix}std": plain(self.std),
            f"{prefix}ci_low": plain(self.ci_low),
            f"{prefix}ci_high": plain(self.ci_high),
            f"{prefix}n": self.n,
        }


def summarize(values, confidence: float = 0.95) -> Summary:
    """Summary of per-image ``values`` (1D; non-finite values are an error, not skipped).

    The interval is ``mean +- t_{(1+c)/2, n-1} * std / sqrt(n)``; with fewer than two values
    the spread and interval are NaN.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no values to summarise")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{int(np.sum(~np.isfinite(values)))} non-finite value(s) to summarise")
    mean = float(values.mean())
    if values.size < 2:
        return Summary(values, mean, math.nan, math.nan, math.nan, confidence)
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * std / math.sqrt(values.size)
    return Summary(values, mean, std, mean - half, mean + half, confidence)


@dataclass(frozen=True)
class WinRate:
    """How often method A beats method B on paired items, with a Wilson interval."""

    wins: int
    ties: int
    n: int
    rate: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def win_rate(a, b, higher_is_better: bool = True, confidence: float = 0.95) -> WinRate:
    """Fraction of paired items where ``a`` is strictly better than ``b`` (ties count as not won).

    ``a`` and ``b`` hold one metric value per item (e.g. per-particle PSNR of FlowDPS and of
    a baseline).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.size} and {b.size}")
    better = a > b if higher_is_better else a < b
    wins, ties = int(better.sum()), int((a == b).sum())
    low, high = wilson_interval(wins, a.size, confidence)
    return WinRate(wins, ties, int(a.size), wins / a.size, low, high)


def paired_difference(a, b, confidence: float = 0.95) -> Summary:
    """Summary of the per-item differences ``a - b`` of paired values (mean difference with a
    Student-t interval): tighter than comparing two means when items vary a lot but the two
    methods vary together, as particles do."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.size} and {b.size}")
    return summarize(a - b, confidence)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    generator: np.random.Generator,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over items resampled with
    replacement: ``statistic`` receives the indices ``(n,)`` of one resample. Resamples whose
    statistic is NaN are left out."""
    if n < 1 or resamples < 1:
        raise ValueError(f"need n >= 1 and resamples >= 1, got n={n}, resamples={resamples}")
    draws = np.array([statistic(generator.integers(0, n, n)) for _ in range(resamples)])
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return math.nan, math.nan
    tail = 50 * (1 - confidence)
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)
