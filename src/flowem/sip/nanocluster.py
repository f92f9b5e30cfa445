"""The four-atom nanocluster forward map (SPEC §7, experiment 2).

``theta in R^2``; atoms ``a1 = theta / 2``, ``a2 = a1 * [1, -1]``, ``a3 = a1 * [-1, 1]``,
``a4 = a1 * [-1, -1]``; image ``I_ij = sum_k exp(-|a_k - g_ij|^2 / (2 tau^2))`` on the grid
``g_ij = (-4 + 8 i / n, -4 + 8 j / n)`` (n = 128), plus ``N(0, sigma^2)`` noise per pixel.
Each Gaussian is separable, so an image is ``sum_k outer(e_x(k), e_y(k))``: O(n) per atom-axis.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor
ATOM_SIGNS = ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0))


def grid_coordinates(grid_size: int = 128, dtype: torch.dtype = torch.float32) -> Tensor:
    """The 1D axis ``-4 + 8 i / n``, i = 0..n-1 (both image axes use it)."""
    return -4.0 + 8.0 * torch.arange(grid_size, dtype=dtype) / grid_size


def atom_positions(theta: Tensor) -> Tensor:
    """``(N, 4, 2)`` atom positions of particles ``theta`` ``(N, 2)``."""
    signs = torch.tensor(ATOM_SIGNS, dtype=theta.dtype, device=theta.device)
    return 0.5 * theta[:, None, :] * signs[None]


class NanoclusterRenderer:
    """``theta (N, 2) -> images (N, n, n)`` with noise ``sigma`` (``tau`` in grid units of 1)."""

    def __init__(self, tau: float, sigma: float, grid_size: int = 128) -> None:
        if not tau > 0 or not sigma >= 0 or grid_size < 2:
            raise ValueError("need tau > 0, sigma >= 0 and grid_size >= 2")
        self.tau, self.sigma, self.grid_size = float(tau), float(sigma), int(grid_size)

    def clean(self, theta: Tensor) -> Tensor:
        axis = grid_coordinates(self.grid_size, theta.dtype).to(theta.device)
        atoms = atom_positions(theta)
        # (N, 4, n) per-axis Gaussian factors; image_ij = sum_k ex[k, i] * ey[k, j]
        ex = torch.exp(-((atoms[..., 0:1] - axis) ** 2) / (2 * self.tau**2))
        ey = torch.exp(-((atoms[..., 1:2] - axis) ** 2) / (2 * self.tau**2))
        return torch.einsum("nki,nkj->nij", ex, ey)

    def __call__(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        clean = self.clean(theta)
        noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
        return torch.add(clean, noise.to(clean.device), alpha=self.sigma)
