"""Gaussian kernel density estimates and the KDE Kullback-Leibler loss of SIP.

``KL(p_x || p_y) ~ mean_j [log p_x(x_j) - log p_y(x_j)]`` with a Gaussian KDE of each set
(Silverman bandwidth per set unless one is given). In 1D both KDEs live on a grid, by linear
binning and an FFT convolution; the grid is set by the observed set ``y`` alone (its range plus a
margin) unless the simulated points leave it, so against a fixed observed set the grid and
``y``'s KDE on it are computed once (:class:`KLAgainst`).
"""

from __future__ import annotations

import math

import torch

from flowem.metrics.pairwise import as_2d, squared_distances

Tensor = torch.Tensor


@torch.no_grad()
def silverman_bandwidth(x: Tensor) -> float:
    """Silverman's rule ``h = s (4 / ((d + 2) n))^(1 / (d + 4))``, ``s`` the mean per-axis std."""
    x = as_2d(x)
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
    return grid_values.gather(0, idx) * (1.0 - w) + grid_values.gather(0, idx + 1) * w


def _log_kde_pairwise(at: Tensor, samples: Tensor, h: float, chunk_size: int) -> Tensor:
    d = at.shape[1]
    parts = [
        torch.logsumexp(-squared_distances(at[i : i + chunk_size], samples) / (2 * h * h), dim=1)
        for i in range(0, at.shape[0], chunk_size)
    ]
    return torch.cat(parts) - math.log(samples.shape[0]) - 0.5 * d * math.log(2 * math.pi * h * h)


def observed_grid(y_lo: float, y_hi: float, hy: float) -> tuple[float, float]:
    """Grid range of the observed set: its range plus ``5 h + 25%`` of it on each side."""
    margin = 5.0 * hy + 0.25 * (y_hi - y_lo)
    return y_lo - margin, y_hi + margin


class KLAgainst:
    """``KL(p_x || p_y)`` against a fixed observed set ``y``; ``rows`` picks a minibatch of it."""

    def __init__(
        self,
        y: Tensor,
        bandwidth: float | None = None,
        *,
        n_bins: int = 2048,
        binned: bool | None = None,
        chunk_size: int = 1024,
    ) -> None:
        self.y, self.bandwidth, self.n_bins, self.chunk_size = (
            as_2d(y),
            bandwidth,
            n_bins,
            chunk_size,
        )
        self.binned = self.y.shape[1] == 1 if binned is None else binned
        if self.binned and self.y.shape[1] != 1:
            raise ValueError("the binned KDE is one-dimensional")
        self._full = self._observed_terms(self.y)
        self._observed_density: Tensor | None = None

    def _observed_terms(self, y: Tensor) -> tuple[float, float, float]:
        h = silverman_bandwidth(y) if self.bandwidth is None else float(self.bandwidth)
        if not self.binned:
            return h, 0.0, 0.0
        return (h, *observed_grid(float(y.min()), float(y.max()), h))

    def __call__(self, x: Tensor, rows: Tensor | None = None) -> Tensor:
        x2 = as_2d(x)
        y = self.y if rows is None else self.y[rows]
        hy, lo, hi = self._full if rows is None else self._observed_terms(y)
        hx = silverman_bandwidth(x2) if self.bandwidth is None else float(self.bandwidth)
        if not self.binned:
            log_px = _log_kde_pairwise(x2, x2, hx, self.chunk_size)
            log_py = _log_kde_pairwise(x2, y, hy, self.chunk_size)
            return (log_px - log_py).mean()
        xv, x_lo, x_hi = x2[:, 0], float(x2.detach().min()), float(x2.detach().max())
        widened = x_lo < lo or x_hi > hi  # the simulated set left the observed grid
        if widened:
            margin = 5.0 * max(hx, hy)
            lo, hi = min(lo, x_lo - margin), max(hi, x_hi + margin)
        dx = (hi - lo) / (self.n_bins - 1)
        if rows is not None or widened:
            py_grid = kde_1d_binned(y[:, 0], lo, dx, self.n_bins, hy)
        else:  # the full observed set on its own grid: once
            if self._observed_density is None:
                self._observed_density = kde_1d_binned(y[:, 0], lo, dx, self.n_bins, hy)
            py_grid = self._observed_density
        px = _interpolate(kde_1d_binned(xv, lo, dx, self.n_bins, hx), xv, lo, dx)
        py = _interpolate(py_grid, xv, lo, dx)
        # FFT round-off swamps densities far below the peak: floor them (both sets alike)
        floor = 1e-12 / (hi - lo) if px.dtype == torch.float64 else 1e-6 / (hi - lo)
        return (px.clamp_min(floor).log() - py.clamp_min(floor).log()).mean()


def kl_kde(x: Tensor, y: Tensor, bandwidth: float | None = None, **options) -> Tensor:
    """``KL(p_x || p_y)`` with Gaussian KDEs (see the module docstring); ``options`` are those
    of :class:`KLAgainst` (1D: binned on a grid of ``n_bins`` unless ``binned=False``)."""
    return KLAgainst(y, bandwidth, **options)(x)
