"""Analytic flow of an i.i.d. Gaussian prior ``x1 ~ N(mean, std^2 I)`` on the linear path.

With ``x_t = (1 - t) x0 + t x1``, ``x_t ~ N(t m, s_t^2)``, ``s_t^2 = (1 - t)^2 + t^2 std^2``, and
``E[x1 | x_t] = m + t std^2 (x_t - t m) / s_t^2``; the exact velocity is
``v = (E[x1 | x_t] - x_t) / (1 - t)`` (for t < 1). It is pointwise, so it commutes with cropping:
the reference for the stitching tests and a network-free velocity for benchmarks. The posterior
of a linear Gaussian measurement under this prior is known in closed form (sampler tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GaussianPriorVelocity:
    """Exact velocity field of ``N(mean, std^2 I)`` data; callable as ``v(x, t)``."""

    mean: float = 0.0
    std: float = 1.0

    def clean_estimate(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        var_t = (1 - t) ** 2 + t**2 * self.std**2
        return self.mean + t * self.std**2 * (x - t * self.mean) / var_t

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        return (self.clean_estimate(x, t) - x) / (1 - tt)
