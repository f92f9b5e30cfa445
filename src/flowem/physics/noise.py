"""Measurement noise models: ``y = noise(A x)``, drawn from an explicit torch generator.

``PoissonCounts`` is the microscope's: ``y ~ Poisson(lambda)`` of expected counts ``lambda``.
The restoration models act on images in data units:

Images are in data units (EM patches scaled to [-1, 1]). Poisson noise counts ``photons`` per
pixel at full brightness: ``y = 2 N / photons - 1`` with ``N ~ Poisson(photons (A x + 1) / 2)``,
so ``E[y] = A x`` and the noise grows with brightness, as in a dose-limited micrograph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GaussianNoise:
    """Additive white Gaussian noise of standard deviation ``sigma`` (data units)."""

    sigma: float

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.sigma == 0:
            return clean.clone()
        noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
        return clean + self.sigma * noise.to(clean.device)

    @property
    def std(self) -> float:
        return float(self.sigma)


@dataclass(frozen=True)
class PoissonNoise:
    """Shot noise with ``photons`` expected counts at the brightest level (+1)."""

    photons: float

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rate = (self.photons * (clean.clamp(-1.0, 1.0) + 1.0) / 2.0).cpu().double()
        counts = torch.poisson(rate, generator=generator)
        return (2.0 * counts / self.photons - 1.0).to(clean.dtype).to(clean.device)

    @property
    def std(self) -> float:
        """Noise std at mid-grey (data units): ``sqrt(photons / 2) * 2 / photons``."""
        return float(2.0 * (self.photons / 2.0) ** 0.5 / self.photons)


@dataclass(frozen=True)
class PoissonCounts:
    """Electron counting: ``y ~ Poisson(lambda)`` for expected counts ``lambda`` (same dtype)."""

    def __call__(self, expected: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.poisson(expected, generator=generator)


NoiseModel = GaussianNoise | PoissonNoise | PoissonCounts
