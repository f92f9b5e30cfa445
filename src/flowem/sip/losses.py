"""Discrepancies between a simulated and an observed sample set, differentiable in the first.

All estimators are V-statistics over Dirac particles (every pair, the zero diagonal included):

- squared energy distance ``D_E^2 = 2 E|X-Y| - E|X-X'| - E|Y-Y'|``; in 1D it is computed in
  O(N log N) by sorting (the cross term by ``searchsorted`` into the sorted observed sample and
  its prefix sums), otherwise by pairwise distances (:mod:`flowem.sip.pairwise`). With the
  empirical distributions this equals ``scipy.stats.energy_distance(x, y) ** 2`` exactly.
- squared MMD with a Gaussian kernel ``exp(-|a-b|^2 / (2 h^2))``;
- ``KL(p_x || p_y)`` between Gaussian KDEs (:mod:`flowem.sip.kde`).

A loss is ``loss(simulated, observed)``; ``loss.against(observed)`` gives ``f(simulated, rows)``
with the terms of the observed set alone (its sort, norms, ``E|Y-Y'|``, KDE) computed once, for
the flow that compares fresh simulations to one observed set (``rows``: a minibatch of it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from flowem.errors import ConfigError
from flowem.sip.kde import KLAgainst, kl_kde
from flowem.sip.pairwise import (
    DIRECT_MAX_DIM,
    SAVED_ELEMENTS,
    as_2d,
    chunked_sum,
    distance_sum,
    squared_distances,
)

Tensor = torch.Tensor
LOSS_NAMES = ("energy", "mmd", "kl")
AgainstObserved = Callable[[Tensor, Tensor | None], Tensor]


def _sort(v: Tensor) -> tuple[Tensor, Tensor]:
    """Ascending values and order of a 1D tensor (numpy's sort is far faster on the CPU)."""
    if v.device.type == "cpu":
        order = torch.from_numpy(np.argsort(v.detach().numpy()))
        return v[order], order
    return torch.sort(v)


def _count_below(sorted_values: Tensor, points: Tensor) -> Tensor:
    """How many of ``sorted_values`` lie below each of ``points`` (sorted: numpy's is faster)."""
    if sorted_values.device.type == "cpu":
        return torch.from_numpy(np.searchsorted(sorted_values.numpy(), points.numpy()))
    return torch.searchsorted(sorted_values, points)


def _rank_coefficients(n: int, like: Tensor) -> Tensor:
    """``2 r - (n - 1)``: in a sorted sample ``sum_{i<j} |v_i - v_j| = sum_r coef_r v_(r)``."""
    return 2.0 * torch.arange(n, device=like.device, dtype=like.dtype) - (n - 1)


class _Energy1D(torch.autograd.Function):
    """``D_E^2`` of 1D ``x`` against a sorted observed sample; analytic gradient in ``x``:
    ``d/dx_i = 2 (2 c_i - m) / (n m) - 2 (2 r_i - (n - 1)) / n^2`` with ``c_i`` the observed
    values below ``x_i`` and ``r_i`` the rank of ``x_i``."""

    @staticmethod
    def forward(ctx, x: Tensor, y_sorted: Tensor, y_prefix: Tensor, y_pair_sum: Tensor) -> Tensor:
        n, m = x.shape[0], y_sorted.shape[0]
        xs, order = _sort(x)
        below = _count_below(y_sorted, xs.detach().to(y_sorted.dtype))
        xd = xs.double()
        # sum_j |x - y_j| = (2c - m) x + sum(y) - 2 (sum of the c smallest y)
        c_coef = 2.0 * below.double() - m
        cross = (c_coef * xd).sum() + n * y_prefix[-1] - 2.0 * y_prefix[below].sum()
        r_coef = _rank_coefficients(n, xd)
        value = 2.0 * cross / (n * m) - 2.0 * (r_coef * xd).sum() / n**2 - 2.0 * y_pair_sum / m**2
        grad = torch.empty_like(x)
        grad[order] = (2.0 * c_coef / (n * m) - 2.0 * r_coef / n**2).to(x.dtype)
        ctx.save_for_backward(grad)
        return value.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_value: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_value, None, None, None


class _Energy1DAgainst:
    """1D ``D_E^2`` against ``y``: its sort, prefix sums and ``sum_{i<j}|y_i - y_j|`` once."""

    def __init__(self, y: Tensor) -> None:
        self.y = y.reshape(-1)
        self._full = self._observed_terms(self.y)

    @staticmethod
    def _observed_terms(y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        ys = _sort(y.detach())[0]
        yd = ys.double()
        prefix = torch.cat([yd.new_zeros(1), yd.cumsum(0)])
        return ys, prefix, (_rank_coefficients(len(yd), yd) * yd).sum()

    def __call__(self, x: Tensor, rows: Tensor | None = None) -> Tensor:
        terms = self._full if rows is None else self._observed_terms(self.y[rows])
        return _Energy1D.apply(x.reshape(-1), *terms)


class _EnergyAgainst:
    """``D_E^2`` in any dimension against ``y``: its norms and ``E|Y-Y'|`` once (with all its
    pairwise distances, when they fit, so that a minibatch's term is a look-up)."""

    def __init__(self, y: Tensor, chunk_size: int) -> None:
        self.y, self.chunk_size = as_2d(y).detach(), chunk_size
        self.y_sq = self.y.pow(2).sum(1) if self.y.shape[1] > DIRECT_MAX_DIM else None
        with torch.no_grad():
            if self.y.shape[0] ** 2 <= SAVED_ELEMENTS:
                self.y_distances = torch.cat(
                    [
                        squared_distances(self.y[i : i + chunk_size], self.y).sqrt()
                        for i in range(0, self.y.shape[0], chunk_size)
                    ]
                )
                self.y_distances.fill_diagonal_(0.0)
                self.y_sum = self.y_distances.sum()
            else:
                self.y_distances = None
                self.y_sum = distance_sum(self.y, chunk_size=chunk_size)

    def _observed_sum(self, rows: Tensor) -> Tensor:
        if self.y_distances is not None:
            return self.y_distances[rows][:, rows].sum()
        with torch.no_grad():
            return distance_sum(self.y[rows], chunk_size=self.chunk_size)

    def __call__(self, x: Tensor, rows: Tensor | None = None) -> Tensor:
        x = as_2d(x)
        y = self.y if rows is None else self.y[rows]
        y_sq = self.y_sq if rows is None or self.y_sq is None else self.y_sq[rows]
        syy = self.y_sum if rows is None else self._observed_sum(rows)
        n, m = x.shape[0], y.shape[0]
        x_sq = x.detach().pow(2).sum(1) if y_sq is not None else None  # shared by both terms
        sxy = distance_sum(x, y, chunk_size=self.chunk_size, x_sq=x_sq, y_sq=y_sq)
        sxx = distance_sum(x, chunk_size=self.chunk_size, x_sq=x_sq)
        return 2.0 * sxy / (n * m) - sxx / n**2 - syy / m**2


def energy_against(y: Tensor, *, chunk_size: int = 1024) -> AgainstObserved:
    """``D_E^2(x, y)`` as ``f(x, rows)`` with the observed set's terms computed once."""
    return _Energy1DAgainst(y) if as_2d(y).shape[1] == 1 else _EnergyAgainst(y, chunk_size)


def energy_distance_sorted(x: Tensor, y: Tensor) -> Tensor:
    """Squared energy distance of two 1D samples by sorting (O(N log N))."""
    return _Energy1DAgainst(y)(x)


def mean_distance(x: Tensor, y: Tensor | None = None, *, chunk_size: int = 1024) -> Tensor:
    """V-statistic ``E|X - Y|`` (or ``E|X - X'|`` when ``y`` is None), chunked over rows."""
    x = as_2d(x)
    y2 = None if y is None else as_2d(y)
    m = x.shape[0] if y2 is None else y2.shape[0]
    return distance_sum(x, y2, chunk_size=chunk_size) / (x.shape[0] * m)


def energy_distance_pairwise(x: Tensor, y: Tensor, *, chunk_size: int = 1024) -> Tensor:
    """Squared energy distance by chunked pairwise distances (any dimension)."""
    return (
        2.0 * mean_distance(x, y, chunk_size=chunk_size)
        - mean_distance(x, chunk_size=chunk_size)
        - mean_distance(y, chunk_size=chunk_size)
    )


def energy_distance(x: Tensor, y: Tensor, *, chunk_size: int = 1024) -> Tensor:
    """Squared energy distance ``D_E^2`` (V-statistics); sorting in 1D, pairwise otherwise."""
    if as_2d(x).shape[1] == 1:
        return energy_distance_sorted(x, y)
    return energy_distance_pairwise(x, y, chunk_size=chunk_size)


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
