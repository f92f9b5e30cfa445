"""Noise floors of the reported SIP distances: the spread of a distance between two samples of
one law at the reported sample sizes, so "within noise of 0" has a number.

Squared energy distance (the unbiased U-statistic of :mod:`flowem.metrics.energy`): for
independent samples of sizes ``n`` and ``m`` of one law its mean is 0 and its variance is exactly

    s2 * (4 / (n m) + 2 / (n (n - 1)) + 2 / (m (m - 1))),

with ``s2 = E k(Z, Z')^2`` the second moment of the doubly centred distance
``k(a, b) = |a - b| - g(a) - g(b) + E|Z - Z'|``, ``g(a) = E|a - Z|``. (Writing every distance as
``k + g + g - E|Z - Z'|``, the ``g`` terms cancel and the cross and within sums of the
degenerate kernel ``k`` are uncorrelated.) ``s2`` is estimated from draws of the law.

W1 in 1D has no such formula: its floor is the mean and spread of W1 between fresh samples of
the truth of the particle count and the reference sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

#: draws of the law used for ``s2`` (its plug-in centring is off by O(1 / draws))
MAX_LAW_DRAWS = 1000


def centred_distance_moment(sample, max_draws: int = MAX_LAW_DRAWS) -> float:
    """``s2 = E k(Z, Z')^2`` from the first ``max_draws`` of ``(p, ...)`` draws of one law
    (items flattened; float64 up to 16 values per item, float32 above): plug-in centring, the
    mean over pairs ``i != j``."""
    z = sample if torch.is_tensor(sample) else torch.as_tensor(np.asarray(sample))
    z = z[:max_draws].reshape(min(len(z), max_draws), -1)
    p = z.shape[0]
    if p < 3:
        raise ValueError(f"the noise floor needs >= 3 draws of the law, got {p}")
    z = z.to(torch.float64 if z.shape[1] <= 16 else torch.float32)
    with torch.no_grad():
        d = torch.cdist(z, z).double()
        d.fill_diagonal_(0.0)
        g = d.sum(1) / (p - 1)
        c = d.sum() / (p * (p - 1))
        k = d - g[:, None] - g[None, :] + c
        k.fill_diagonal_(0.0)
        return float(k.pow(2).sum() / (p * (p - 1)))


def energy_null_std(s2: float, n: int, m: int) -> float:
    """Standard deviation of the unbiased squared energy distance between samples of sizes
    ``n`` and ``m`` of one law with ``s2`` (:func:`centred_distance_moment`)."""
    if min(n, m) < 2:
        raise ValueError(f"the unbiased energy distance needs sets of >= 2 items, got {n}, {m}")
    return float(np.sqrt(s2 * (4.0 / (n * m) + 2.0 / (n * (n - 1)) + 2.0 / (m * (m - 1)))))


def energy_noise_floor(sample_of_law, n: int, m: int) -> dict[str, Any]:
    """The floor of a reported distance between sets of ``n`` and ``m`` items: mean 0, ``std``
    from the draws ``sample_of_law`` of the true law (the observed images, or a true-law sample
    of parameters)."""
    s2 = centred_distance_moment(sample_of_law)
    return {
        "mean": 0.0,
        "std": energy_null_std(s2, n, m),
        "sizes": [int(n), int(m)],
        "law_draws": min(len(sample_of_law), MAX_LAW_DRAWS),
    }


def replicate_floor(distance: Callable[[int], float], replicates: int) -> dict[str, Any]:
    """Mean and std of ``distance(k)`` over ``replicates`` independent draws ``k`` (a distance
    with no closed-form null spread, e.g. W1 of a true-law sample to the reference)."""
    values = np.array([distance(k) for k in range(replicates)], dtype=float)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if replicates > 1 else 0.0,
        "replicates": int(replicates),
    }
