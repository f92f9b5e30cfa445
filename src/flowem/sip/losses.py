"""Discrepancies between a simulated and an observed sample set, differentiable in the first.

All estimators are V-statistics over Dirac particles (every pair, the zero diagonal included):

- squared energy distance ``D_E^2 = 2 E|X-Y| - E|X-X'| - E|Y-Y'|`` of
  :mod:`flowem.metrics.energy` (sorting in 1D, pairwise distances otherwise); with the
  empirical distributions this equals ``scipy.stats.energy_distance(x, y) ** 2`` exactly.
- squared MMD with a Gaussian kernel ``exp(-|a-b|^2 / (2 h^2))``;
- ``KL(p_x || p_y)`` between Gaussian KDEs (:mod:`flowem.sip.kde`).

A loss is ``loss(simulated, observed)``; ``loss.against(observed)`` gives ``f(simulated, rows)``
with the terms of the observed set alone (its sort, norms, ``E|Y-Y'|``, KDE) computed once, for
the flow that compares fresh simulations to one observed set (``rows``: a minibatch of it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from flowem.errors import ConfigError
from flowem.metrics.energy import AgainstObserved, energy_against, energy_distance
from flowem.metrics.pairwise import as_2d, chunked_sum, squared_distances
from flowem.sip.kde import KLAgainst, kl_kde

Tensor = torch.Tensor
LOSS_NAMES = ("energy", "mmd", "kl")


@torch.no_grad()
def median_bandwidth(x: Tensor, y: Tensor, max_points: int = 1000) -> float:
    """Median heuristic: median pairwise distance of (a subsample of) the pooled sets."""
    pooled = torch.cat([as_2d(x)[:max_points], as_2d(y)[:max_points]])
    d = squared_distances(pooled, pooled).sqrt()
    off = d[~torch.eye(d.shape[0], dtype=torch.bool, device=d.device)]
    return max(float(off.median()), 1e-12)


def mmd_gaussian(
    x: Tensor, y: Tensor, bandwidth: float | None = None, *, chunk_size: int = 1024
) -> Tensor:
    """Squared MMD with ``k(a, b) = exp(-|a-b|^2 / (2 h^2))``; ``h`` by the median heuristic."""
    x, y = as_2d(x), as_2d(y)
    h = median_bandwidth(x, y) if bandwidth is None else float(bandwidth)
    kernel = lambda d2: torch.exp(-d2 / (2.0 * h * h))  # noqa: E731
    n, m = x.shape[0], y.shape[0]
    # the diagonal of k(x, x) is 1: add it back to the off-diagonal sum (V-statistic)
    kxx = (chunked_sum(x, x, kernel, same=True, chunk_size=chunk_size) + n) / n**2
    kyy = (chunked_sum(y, y, kernel, same=True, chunk_size=chunk_size) + m) / m**2
    kxy = chunked_sum(x, y, kernel, same=False, chunk_size=chunk_size) / (n * m)
    return kxx + kyy - 2.0 * kxy


class SampleLoss:
    """``loss(x, y)``; ``loss.against(y)`` gives ``f(x, rows)`` with ``y``'s terms computed once."""

    def __init__(
        self,
        loss: Callable[[Tensor, Tensor], Tensor],
        against: Callable[[Tensor], AgainstObserved] | None = None,
    ) -> None:
        self._loss, self._against = loss, against

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        return self._loss(x, y)

    def against(self, y: Tensor) -> AgainstObserved:
        if self._against is not None:
            return self._against(y)
        return lambda x, rows=None: self._loss(x, y if rows is None else y[rows])


def make_loss(
    name: str, bandwidth: float | None = None, *, chunk_size: int = 1024, n_bins: int = 2048
) -> SampleLoss:
    """The loss ``name`` in {energy, mmd, kl} as ``loss(simulated, observed)``."""
    if name == "energy":
        return SampleLoss(
            lambda x, y: energy_distance(x, y, chunk_size=chunk_size),
            lambda y: energy_against(y, chunk_size=chunk_size),
        )
    if name == "mmd":
        return SampleLoss(lambda x, y: mmd_gaussian(x, y, bandwidth, chunk_size=chunk_size))
    if name == "kl":
        return SampleLoss(
            lambda x, y: kl_kde(x, y, bandwidth, n_bins=n_bins, chunk_size=chunk_size),
            lambda y: KLAgainst(y, bandwidth, n_bins=n_bins, chunk_size=chunk_size),
        )
    raise ConfigError(f"unknown SIP loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
