"""The 1D stochastic forward map ``T_omega(theta) = theta + omega``, ``omega ~ N(0, sigma^2)``."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


class AdditiveNoise:
    """Additive Gaussian noise of standard deviation ``sigma`` on each parameter."""

    def __init__(self, sigma: float) -> None:
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)

    def clean(self, theta: Tensor) -> Tensor:
        """The noise-free image of each particle, ``(N, d)``."""
        return theta

    def __call__(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        """One fresh draw of omega per particle; differentiable in ``theta``."""
        noise = torch.randn(theta.shape, generator=generator, dtype=theta.dtype)
        return theta + self.sigma * noise.to(theta.device)
