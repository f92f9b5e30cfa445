"""Discrepancies between a simulated and an observed sample set, differentiable in the first.

All estimators are V-statistics over Dirac particles (every pair, the zero diagonal included):

- squared energy distance ``D_E^2 = 2 E|X-Y| - E|X-X'| - E|Y-Y'|``; in 1D it is computed in
  O(N log N) by sorting, otherwise by pairwise distances in row chunks (each chunk recomputed in
  the backward pass, so memory stays ``chunk_size x M`` whatever N is). With the empirical
  distributions this equals ``scipy.stats.energy_distance(x, y) ** 2`` exactly.
- squared MMD with a Gaussian kernel ``exp(-|a-b|^2 / (2 h^2))``;
- ``KL(p_x || p_y)`` between Gaussian KDEs (Silverman bandwidth per set) evaluated at the points
  of ``x``; in 1D on a grid by linear binning and an FFT convolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

from flowem.errors import ConfigError

Tensor = torch.Tensor
LOSS_NAMES = ("energy", "mmd", "kl")
#: below this dimension differences are formed directly (exact); above, by one GEMM
_DIRECT_MAX_DIM = 8


def _as_2d(x: Tensor) -> Tensor:
    return x[:, None] if x.ndim == 1 else x.reshape(x.shape[0], -1)


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    if a.shape[1] <= _DIRECT_MAX_DIM:
        return (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)
    d2 = a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2.0 * a @ b.T
    return d2.clamp_min(0.0)


def _chunked_sum(
    x: Tensor, y: Tensor, kernel: Callable[[Tensor], Tensor], *, same: bool, chunk_size: int
) -> Tensor:
    """``sum_ij kernel(|x_i - y_j|^2)``; with ``same`` the diagonal is left out (x is y)."""
    total = x.new_zeros(())
    for start in range(0, x.shape[0], chunk_size):

        def block(xa: Tensor, yb: Tensor, start: int = start) -> Tensor:
            values = kernel(_squared_distances(xa, yb))
            if same:
                rows = torch.arange(xa.shape[0], device=xa.device)
                values = values.index_put((rows, rows + start), values.new_zeros(()))
            return values.sum()

        xa = x[start : start + chunk_size]
        if torch.is_grad_enabled() and (xa.requires_grad or y.requires_grad):
            total = total + checkpoint(block, xa, y, use_reentrant=False)
        else:
            total = total + block(xa, y)
    return total


def _distance(d2: Tensor) -> Tensor:
    # zero distances only occur on the excluded diagonal; clamp keeps sqrt's gradient finite
    return d2.clamp_min(1e-30).sqrt()


def mean_distance(x: Tensor, y: Tensor | None = None, *, chunk_size: int = 1024) -> Tensor:
    """V-statistic ``E|X - Y|`` (or ``E|X - X'|`` when ``y`` is None), chunked over rows."""
    x = _as_2d(x)
    same = y is None
    y = x if same else _as_2d(y)
    total = _chunked_sum(x, y, _distance, same=same, chunk_size=chunk_size)
    return total / (x.shape[0] * y.shape[0])


def _sorted_pair_sum(v: Tensor) -> Tensor:
    """``sum_{i<j} |v_i - v_j|`` of a 1D sample in O(N log N)."""
    s, _ = torch.sort(v)
    n = s.shape[0]
    coef = 2.0 * torch.arange(n, device=s.device, dtype=s.dtype) - (n - 1)
    return (coef * s).sum()


def energy_distance_sorted(x: Tensor, y: Tensor) -> Tensor:
    """Squared energy distance of two 1D samples by sorting (O(N log N))."""
    x, y = x.reshape(-1), y.reshape(-1)
    n, m = x.shape[0], y.shape[0]
    sxx, syy = _sorted_pair_sum(x), _sorted_pair_sum(y)
    cross = _sorted_pair_sum(torch.cat([x, y])) - sxx - syy  # sum_ij |x_i - y_j|
    return 2.0 * cross / (n * m) - 2.0 * sxx / n**2 - 2.0 * syy / m**2


def energy_distance_pairwise(x: Tensor, y: Tensor, *, chunk_size: int = 1024) -> Tensor:
    """Squared energy distance by chunked pairwise distances (any dimension)."""
    return (
        2.0 * mean_distance(x, y, chunk_size=chunk_size)
        - mean_distance(x, chunk_size=chunk_size)
        - mean_distance(y, chunk_size=chunk_size)
    )


def energy_distance(x: Tensor, y: Tensor, *, chunk_size: int = 1024) -> Tensor:
    """Squared energy distance ``D_E^2`` (V-statistics); sorting in 1D, pairwise otherwise."""
    if _as_2d(x).shape[1] == 1:
        return energy_distance_sorted(x, y)
    return energy_distance_pairwise(x, y, chunk_size=chunk_size)


@torch.no_grad()
def median_bandwidth(x: Tensor, y: Tensor, max_points: int = 1000) -> float:
    """Median heuristic: median pairwise distance of (a subsample of) the pooled sets."""
    pooled = torch.cat([_as_2d(x)[:max_points], _as_2d(y)[:max_points]])
    d = _squared_distances(pooled, pooled).sqrt()
    off = d[~torch.eye(d.shape[0], dtype=torch.bool, device=d.device)]
    return max(float(off.median()), 1e-12)


def mmd_gaussian(
    x: Tensor, y: Tensor, bandwidth: float | None = None, *, chunk_size: int = 1024
) -> Tensor:
    """Squared MMD with ``k(a, b) = exp(-|a-b|^2 / (2 h^2))``; ``h`` by the median heuristic."""
    x, y = _as_2d(x), _as_2d(y)
    h = median_bandwidth(x, y) if bandwidth is None else float(bandwidth)
    kernel = lambda d2: torch.exp(-d2 / (2.0 * h * h))  # noqa: E731
    n, m = x.shape[0], y.shape[0]
    # the diagonal of k(x, x) is 1: add it back to the off-diagonal sum (V-statistic)
    kxx = (_chunked_sum(x, x, kernel, same=True, chunk_size=chunk_size) + n) / n**2
    kyy = (_chunked_sum(y, y, kernel, same=True, chunk_size=chunk_size) + m) / m**2
    kxy = _chunked_sum(x, y, kernel, same=False, chunk_size=chunk_size) / (n * m)
    return kxx + kyy - 2.0 * kxy


@torch.no_grad()
def silverman_bandwidth(x: Tensor) -> float:
    """Silverman's rule ``h = s (4 / ((d + 2) n))^(1 / (d + 4))``, ``s`` the mean per-axis std."""
    x = _as_2d(x)
    n, d = x.shape
    s = float(x.std(dim=0).mean()) if n > 1 else 1.0
    return max(s, 1e-12) * (4.0 / ((d + 2) * n)) ** (1.0 / (d + 4))


def _linear_bins(points: Tensor, lo: float, dx: float, n_bins: int) -> tuple[Tensor, Tensor]:
    pos = (points - lo) / dx
    left = pos.detach().floor().clamp(0, n_bins - 2)
    return left.long(), pos - left  # right weight, differentiable in the points


def kde_1d_binned(
    samples: Tensor, grid_lo: float, dx: float, n_bins: int, bandwidth: float
) -> Tensor:
    """Gaussian KDE of a 1D sample on the grid ``grid_lo + dx * k`` (density, integrates to 1).

    Linear binning then an FFT convolution with the sampled Gaussian: O(N + B log B).
    """
    idx, w = _linear_bins(samples.reshape(-1), grid_lo, dx, n_bins)
    counts = samples.new_zeros(n_bins)
    counts = counts.index_add(0, idx, 1.0 - w).index_add(0, idx + 1, w)
    offsets = torch.arange(-(n_bins - 1), n_bins, device=samples.device, dtype=samples.dtype)
    norm = bandwidth * math.sqrt(2 * math.pi)
    kernel = torch.exp(-0.5 * (offsets * dx / bandwidth) ** 2) / norm
    size = 3 * n_bins
    conv = torch.fft.irfft(torch.fft.rfft(counts, size) * torch.fft.rfft(kernel, size), size)
    return conv[n_bins - 1 : 2 * n_bins - 1] / samples.numel()


def _interpolate(grid_values: Tensor, points: Tensor, lo: float, dx: float) -> Tensor:
    idx, w = _linear_bins(points, lo, dx, grid_values.shape[0])
    return grid_values[idx] * (1.0 - w) + grid_values[idx + 1] * w


def _log_kde_pairwise(at: Tensor, samples: Tensor, h: float, chunk_size: int) -> Tensor:
    d = at.shape[1]
    parts = [
        torch.logsumexp(-_squared_distances(at[i : i + chunk_size], samples) / (2 * h * h), dim=1)
        for i in range(0, at.shape[0], chunk_size)
    ]
    return torch.cat(parts) - math.log(samples.shape[0]) - 0.5 * d * math.log(2 * math.pi * h * h)


def kl_kde(
    x: Tensor,
    y: Tensor,
    bandwidth: float | None = None,
    *,
    n_bins: int = 2048,
    binned: bool | None = None,
    chunk_size: int = 1024,
) -> Tensor:
    """``KL(p_x || p_y) ~ mean_j [log p_x(x_j) - log p_y(x_j)]`` with Gaussian KDEs.

    Bandwidths by Silverman's rule for each set unless ``bandwidth`` is given. In 1D (unless
    ``binned=False``) the KDEs live on a grid of ``n_bins`` covering both sets +- 5 h.
    """
    x2, y2 = _as_2d(x), _as_2d(y)
    hx = silverman_bandwidth(x2) if bandwidth is None else float(bandwidth)
    hy = silverman_bandwidth(y2) if bandwidth is None else float(bandwidth)
    if binned is None:
        binned = x2.shape[1] == 1
    if binned:
        if x2.shape[1] != 1:
            raise ValueError("the binned KDE is one-dimensional")
        xv, yv = x2[:, 0], y2[:, 0]
        pad = 5.0 * max(hx, hy)
        lo = float(torch.minimum(xv.detach().min(), yv.min())) - pad
        hi = float(torch.maximum(xv.detach().max(), yv.max())) + pad
        dx = (hi - lo) / (n_bins - 1)
        px = _interpolate(kde_1d_binned(xv, lo, dx, n_bins, hx), xv, lo, dx)
        py = _interpolate(kde_1d_binned(yv, lo, dx, n_bins, hy), xv, lo, dx)
        # FFT round-off swamps densities far below the peak: floor them (both sets alike)
        floor = 1e-12 / (hi - lo) if px.dtype == torch.float64 else 1e-6 / (hi - lo)
        return (px.clamp_min(floor).log() - py.clamp_min(floor).log()).mean()
    log_px = _log_kde_pairwise(x2, x2, hx, chunk_size)
    log_py = _log_kde_pairwise(x2, y2, hy, chunk_size)
    return (log_px - log_py).mean()


def make_loss(
    name: str, bandwidth: float | None = None, *, chunk_size: int = 1024, n_bins: int = 2048
) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss ``name`` in {energy, mmd, kl} as ``loss(simulated, observed)``."""
    if name == "energy":
        return lambda x, y: energy_distance(x, y, chunk_size=chunk_size)
    if name == "mmd":
        return lambda x, y: mmd_gaussian(x, y, bandwidth, chunk_size=chunk_size)
    if name == "kl":
        return lambda x, y: kl_kde(x, y, bandwidth, n_bins=n_bins, chunk_size=chunk_size)
    raise ConfigError(f"unknown SIP loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
