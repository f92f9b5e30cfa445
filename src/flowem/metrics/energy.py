"""Squared energy distance ``D_E^2 = 2 E|X-Y| - E|X-X'| - E|Y-Y'|`` of two sample sets.

One formula, :func:`energy_from_sums`, from the sum of the cross distances and the sums over
ordered pairs ``i != j`` within each set, with one choice of estimator:

- ``unbiased=False``: the V-statistic (self-pairs included, ``n^2`` normalisation); the
  distance between the empirical laws, ``scipy.stats.energy_distance(x, y) ** 2`` exactly. It
  carries a floor of about ``E|X-X'|/n + E|Y-Y'|/m`` for two samples of one law.
- ``unbiased=True``: the U-statistic (self-pairs left out, ``n (n - 1)``), which averages 0 for
  two samples of one law whatever their sizes; SPEC section 7 reports this one.

Torch tensors in, a differentiable 0-d tensor out (gradient in ``x``). In 1D the sums come from
sorting, in O(N log N) (the cross term by ``searchsorted`` into the sorted ``y`` and its prefix
sums), otherwise from chunked pairwise distances (:mod:`flowem.metrics.pairwise`).
:func:`energy_against` fixes ``y`` and computes its own terms once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from flowem.metrics.pairwise import (
    DIRECT_MAX_DIM,
    SAVED_ELEMENTS,
    as_2d,
    distance_sum,
    squared_distances,
)

Tensor = torch.Tensor
AgainstObserved = Callable[[Tensor, Tensor | None], Tensor]


def within_pairs(n: int, unbiased: bool) -> int:
    """Normaliser of a within-set sum over ordered pairs: ``n (n - 1)`` (U) or ``n^2`` (V)."""
    if unbiased and n < 2:
        raise ValueError(f"the unbiased energy distance needs sets of >= 2 items, got {n}")
    return n * (n - 1) if unbiased else n**2


def energy_from_sums(cross, within_x, within_y, n: int, m: int, *, unbiased: bool = False):
    """``D_E^2`` from ``sum_ij |x_i - y_j|`` and the within-set sums over ordered pairs
    ``i != j`` (floats, arrays or tensors) of sets of ``n`` and ``m`` items."""
    return (
        2.0 * cross / (n * m)
        - within_x / within_pairs(n, unbiased)
        - within_y / within_pairs(m, unbiased)
    )


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
    ``d/dx_i = 2 (2 c_i - m) / (n m) - 2 (2 r_i - (n - 1)) / P(n)`` with ``c_i`` the observed
    values below ``x_i``, ``r_i`` the rank of ``x_i`` and ``P`` :func:`within_pairs`."""

    @staticmethod
    def forward(
        ctx, x: Tensor, y_sorted: Tensor, y_prefix: Tensor, y_pair_sum: Tensor, unbiased: bool
    ) -> Tensor:
        n, m = x.shape[0], y_sorted.shape[0]
        xs, order = _sort(x)
        below = _count_below(y_sorted, xs.detach().to(y_sorted.dtype))
        xd = xs.double()
        # sum_j |x - y_j| = (2c - m) x + sum(y) - 2 (sum of the c smallest y)
        c_coef = 2.0 * below.double() - m
        cross = (c_coef * xd).sum() + n * y_prefix[-1] - 2.0 * y_prefix[below].sum()
        r_coef = _rank_coefficients(n, xd)
        within_x = 2.0 * (r_coef * xd).sum()
        value = energy_from_sums(cross, within_x, 2.0 * y_pair_sum, n, m, unbiased=unbiased)
        grad = torch.empty_like(x)
        grad[order] = (2.0 * c_coef / (n * m) - 2.0 * r_coef / within_pairs(n, unbiased)).to(
            x.dtype
        )
        ctx.save_for_backward(grad)
        return value.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_value: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_value, None, None, None, None


class _Energy1DAgainst:
    """1D ``D_E^2`` against ``y``: its sort, prefix sums and ``sum_{i<j}|y_i - y_j|`` once."""

    def __init__(self, y: Tensor, unbiased: bool) -> None:
        self.y, self.unbiased = y.reshape(-1), unbiased
        self._full = self._observed_terms(self.y)

    @staticmethod
    def _observed_terms(y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        ys = _sort(y.detach())[0]
        yd = ys.double()
        prefix = torch.cat([yd.new_zeros(1), yd.cumsum(0)])
        return ys, prefix, (_rank_coefficients(len(yd), yd) * yd).sum()

    def __call__(self, x: Tensor, rows: Tensor | None = None) -> Tensor:
        terms = self._full if rows is None else self._observed_terms(self.y[rows])
        return _Energy1D.apply(x.reshape(-1), *terms, self.unbiased)


class _EnergyAgainst:
    """``D_E^2`` in any dimension against ``y``: its norms and ``E|Y-Y'|`` once (with all its
    pairwise distances, when they fit, so that a minibatch's term is a look-up)."""

    def __init__(self, y: Tensor, chunk_size: int, unbiased: bool) -> None:
        self.y, self.chunk_size, self.unbiased = as_2d(y).detach(), chunk_size, unbiased
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
        x_sq = x.detach().pow(2).sum(1) if y_sq is not None else None  # shared by both terms
        sxy = distance_sum(x, y, chunk_size=self.chunk_size, x_sq=x_sq, y_sq=y_sq)
        sxx = distance_sum(x, chunk_size=self.chunk_size, x_sq=x_sq)
        return energy_from_sums(sxy, sxx, syy, x.shape[0], y.shape[0], unbiased=self.unbiased)


def energy_against(y: Tensor, *, chunk_size: int = 1024, unbiased: bool = False) -> AgainstObserved:
    """``D_E^2(x, y)`` as ``f(x, rows)`` (``rows``: a minibatch of ``y``), ``y``'s terms once."""
    if as_2d(y).shape[1] == 1:
        return _Energy1DAgainst(y, unbiased)
    return _EnergyAgainst(y, chunk_size, unbiased)


def energy_distance_sorted(x: Tensor, y: Tensor, *, unbiased: bool = False) -> Tensor:
    """``D_E^2`` of two 1D samples by sorting (O(N log N))."""
    return _Energy1DAgainst(y, unbiased)(x)


def energy_distance_pairwise(
    x: Tensor, y: Tensor, *, chunk_size: int = 1024, unbiased: bool = False
) -> Tensor:
    """``D_E^2`` by chunked pairwise distances (any dimension)."""
    x, y = as_2d(x), as_2d(y)
    return energy_from_sums(
        distance_sum(x, y, chunk_size=chunk_size),
        distance_sum(x, chunk_size=chunk_size),
        distance_sum(y, chunk_size=chunk_size),
        x.shape[0],
        y.shape[0],
        unbiased=unbiased,
    )


def energy_distance(
    x: Tensor, y: Tensor, *, chunk_size: int = 1024, unbiased: bool = False
) -> Tensor:
    """``D_E^2`` of the rows (items flattened) of ``x`` and ``y``; sorting in 1D, pairwise
    otherwise. ``unbiased``: the U-statistic instead of the V-statistic (module docstring)."""
    if as_2d(x).shape[1] == 1:
        return energy_distance_sorted(x, y, unbiased=unbiased)
    return energy_distance_pairwise(x, y, chunk_size=chunk_size, unbiased=unbiased)
