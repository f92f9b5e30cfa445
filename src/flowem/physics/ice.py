"""Structured background of vitreous ice: a Gaussian random field of exit-wave phase.

Ice is not a uniform slab: its thickness and density fluctuate, so the exit wave carries a
random phase that passes through the objective lens with the particle and shows the same
Thon rings (its mean only adds a constant phase). The field is stationary with spectral
density ``Phi(k) = c (1 + (k xi)^2)^(-gamma / 2)`` (rad^2 A^2; ``xi`` correlation length in A,
``gamma`` exponent, 0 is white) without its mean. ``c`` makes ``std_rad`` the standard
deviation of the field band-limited to ``k <= 0.5 / A`` (a 1 A pixel), so the physical field
does not depend on the pixel size it is drawn at. It is periodic on its grid: draw it on the
padded grid of the forward operator so the transfer function sees no edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from flowem.physics.ctf import frequency_grid

#: band limit (1/A) at which ``std_rad`` is the field's standard deviation
_K_REFERENCE = 0.5


@dataclass(frozen=True)
class IceBackground:
    """Spectrum and amplitude of the ice phase field.

    Attributes:
        std_rad: standard deviation of the phase (rad) band-limited to 0.5 / A.
        correlation_a: ``xi`` (A), where the spectrum bends from flat to a power law.
        exponent: ``gamma``, the power law's slope at ``k >> 1 / xi``.
    """

    std_rad: float
    correlation_a: float
    exponent: float

    def __post_init__(self) -> None:
        if not (self.std_rad >= 0 and self.correlation_a > 0 and self.exponent >= 0):
            raise ValueError("ice background: std_rad >= 0, correlation_a > 0, exponent >= 0")

    def spectrum(self, k: torch.Tensor) -> torch.Tensor:
        """Spectral density ``Phi(k)`` (rad^2 A^2; zero at ``k = 0``) for ``k`` in 1/A."""
        power = (1.0 + (k * self.correlation_a) ** 2) ** (-0.5 * self.exponent)
        return self.std_rad**2 / self._disc_integral() * torch.where(k == 0, 0.0, power)

    def _disc_integral(self, k_max: float = _K_REFERENCE) -> float:
        """``int_{|k| <= k_max} (1 + (k xi)^2)^(-gamma/2) d^2k`` (1/A^2), in closed form."""
        u, power = (k_max * self.correlation_a) ** 2, 1.0 - 0.5 * self.exponent
        radial = math.log1p(u) if abs(power) < 1e-12 else ((1.0 + u) ** power - 1.0) / power
        return math.pi / self.correlation_a**2 * radial

    def sample(
        self,
        shape: tuple[int, int],
        pixel_size_a: float,
        generator: torch.Generator | None = None,
        count: int = 1,
    ) -> torch.Tensor:
        """``(count, H, W)`` float64 phase fields (rad) on a periodic grid of ``shape``."""
        k, _ = frequency_grid(shape, pixel_size_a)
        # unit white noise filtered by sqrt(Phi / pixel^2) has variance sum Phi dk^2
        amplitude = torch.sqrt(self.spectrum(k)) / pixel_size_a
        white = torch.randn((count, *shape), generator=generator, dtype=torch.float64)
        return torch.fft.ifft2(torch.fft.fft2(white) * amplitude).real
