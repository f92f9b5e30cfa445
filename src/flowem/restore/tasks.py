"""The restoration tasks: each is a degradation operator with its noise model (SPEC section 6).

``denoise`` (A = I), ``sr2``/``sr3``/``sr4`` (area downsampling), ``deblur`` (Gaussian or defocus
PSF) and ``axial`` (in-plane proxy of axial super-resolution: rows decimated by ``axial_factor``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from flowem.errors import ConfigError
from flowem.physics.noise import GaussianNoise, NoiseModel, PoissonNoise
from flowem.physics.operators import (
    AreaDownsample,
    Blur,
    Decimate,
    Identity,
    LinearOperator,
    defocus_psf,
    gaussian_psf,
)
from flowem.settings import check_at_least, check_choice, check_positive

TASKS = ("denoise", "sr2", "sr3", "sr4", "deblur", "axial")


@dataclass(frozen=True)
class DegradationSettings:
    """How each task's measurement is made (data units: images in [-1, 1])."""

    denoise_noise: str = "gaussian"  # or "poisson"
    denoise_sigma: float = 0.2
    denoise_photons: float = 50.0
    sr_sigma: float = 0.01
    deblur_psf: str = "gaussian"  # or "defocus"
    deblur_sigma_px: float = 2.0
    defocus_radius_px: float = 3.0
    deblur_noise_sigma: float = 0.01
    axial_factor: int = 4
    axial_sigma: float = 0.0

    def __post_init__(self) -> None:
        section = "restore.degradation"
        check_choice(self, section, "denoise_noise", ("gaussian", "poisson"))
        check_choice(self, section, "deblur_psf", ("gaussian", "defocus"))
        check_positive(self, section, "denoise_sigma", "denoise_photons", "deblur_sigma_px")
        check_positive(self, section, "defocus_radius_px")
        check_at_least(self, section, 0, "sr_sigma", "deblur_noise_sigma", "axial_sigma")
        check_at_least(self, section, 2, "axial_factor")


@dataclass(frozen=True)
class Task:
    """A named degradation: an operator with its noise model, ``y = noise(operator(x))``."""

    name: str
    operator: LinearOperator

    @property
    def noise(self) -> NoiseModel:
        return self.operator.noise

    def measure(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.operator.measure(clean, generator)


def make_task(name: str, settings: DegradationSettings) -> Task:
    """The task called ``name`` (one of :data:`TASKS`)."""
    if name == "denoise":
        if settings.denoise_noise == "gaussian":
            noise: NoiseModel = GaussianNoise(settings.denoise_sigma)
        elif settings.denoise_noise == "poisson":
            noise = PoissonNoise(settings.denoise_photons)
        else:
            raise ConfigError(
                f"denoise_noise must be 'gaussian' or 'poisson', got {settings.denoise_noise!r}"
            )
        return Task(name, Identity().with_noise(noise))
    if name in ("sr2", "sr3", "sr4"):
        return Task(name, AreaDownsample(int(name[2])).with_noise(GaussianNoise(settings.sr_sigma)))
    if name == "deblur":
        if settings.deblur_psf == "gaussian":
            psf = gaussian_psf(settings.deblur_sigma_px)
        elif settings.deblur_psf == "defocus":
            psf = defocus_psf(settings.defocus_radius_px)
        else:
            raise ConfigError(
                f"deblur_psf must be 'gaussian' or 'defocus', got {settings.deblur_psf!r}"
            )
        return Task(name, Blur(psf).with_noise(GaussianNoise(settings.deblur_noise_sigma)))
    if name == "axial":
        decimate = Decimate(settings.axial_factor, dim=-2)
        return Task(name, decimate.with_noise(GaussianNoise(settings.axial_sigma)))
    raise ConfigError(f"unknown restoration task {name!r}; known: {', '.join(TASKS)}")
