"""The three SIP experiments of SPEC §7: true and initial parameter laws, and forward maps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flowem.data.normal_modes import anm_modes
from flowem.sip.forward_1d import AdditiveNoise
from flowem.sip.nanocluster import NanoclusterRenderer
from flowem.sip.protein import NormalModeProjector, load_calpha
from flowem.sip.settings import FlowSettings, NanoclusterSettings, OneDSettings, ProteinSettings

Sampler = Callable[[int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class GaussianMixture:
    """``sum_k w_k N(mean_k, cov_k)`` in ``d`` dimensions."""

    weights: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    covs: tuple[tuple[tuple[float, ...], ...], ...]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, d)`` draws; the component counts are multinomial."""
        counts = rng.multinomial(n, np.asarray(self.weights) / sum(self.weights))
        parts = [
            rng.multivariate_normal(np.asarray(mu), np.asarray(cov), size=c)
            for c, mu, cov in zip(counts, self.means, self.covs, strict=True)
        ]
        return rng.permutation(np.concatenate(parts), axis=0)

    def pdf_1d(self, x: np.ndarray) -> np.ndarray:
        """Density of a one-dimensional mixture at ``x``."""
        total = np.zeros_like(x, dtype=float)
        for w, mu, cov in zip(self.weights, self.means, self.covs, strict=True):
            var = cov[0][0]
            total += w * np.exp(-((x - mu[0]) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)
        return total / sum(self.weights)


TRUE_1D = GaussianMixture((0.5, 0.5), ((-2.0,), (2.0,)), (((0.75**2,),), ((0.3**2,),)))
INITIAL_1D = GaussianMixture((1.0,), ((0.0,),), (((1.0,),),))
TRUE_NANOCLUSTER = GaussianMixture(
    (0.2, 0.8),
    ((3.0, 3.0), (5.0, 5.0)),
    (((0.5, 0.0), (0.0, 0.5)), ((0.7, 0.5), (0.5, 1.0))),
)
INITIAL_NANOCLUSTER = GaussianMixture((1.0,), ((4.0, 4.0),), (((0.8, 0.3), (0.3, 0.8)),))
#: reduced mode amplitudes z (theta_i = z_i / sqrt(lambda_i)) of the protein experiment
TRUE_MODE_BIMODAL = GaussianMixture((0.5, 0.5), ((9.0,), (-7.0,)), (((1.0,),), ((1.0,),)))


@dataclass
class Experiment:
    """What a fit needs: the forward map and samplers of the true and initial laws."""

    name: str
    forward: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    true_sampler: Sampler
    initial_sampler: Sampler
    param_names: list[str]
    info: dict[str, float | list[float]]


def protein_samplers(eigenvalues: np.ndarray) -> tuple[Sampler, Sampler]:
    """True: ``z ~ 0.5 N(9,1) + 0.5 N(-7,1)`` (modes 1-2), ``N(0,1)`` (3+); initial ``U(-7,7)``."""
    scale = 1.0 / np.sqrt(eigenvalues)

    def true(n: int, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((n, len(eigenvalues)))
        for i in range(min(2, len(eigenvalues))):
            z[:, i] = TRUE_MODE_BIMODAL.sample(n, rng)[:, 0]
        return z * scale

    def initial(n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-7.0, 7.0, size=(n, len(eigenvalues))) * scale

    return true, initial


def build_experiment(
    name: str, settings: FlowSettings, structure: str | Path | None = None
) -> Experiment:
    """The experiment ``name`` with the forward map configured by ``settings``."""
    if name == "1d":
        assert isinstance(settings, OneDSettings)
        return Experiment(
            name, AdditiveNoise(settings.sigma), TRUE_1D.sample, INITIAL_1D.sample, ["theta"], {}
        )
    if name == "nanocluster":
        assert isinstance(settings, NanoclusterSettings)
        forward = NanoclusterRenderer(settings.tau, settings.sigma, settings.grid_size)
        return Experiment(
            name,
            forward,
            TRUE_NANOCLUSTER.sample,
            INITIAL_NANOCLUSTER.sample,
            ["theta_1", "theta_2"],
            {},
        )
    if name == "protein":
        assert isinstance(settings, ProteinSettings) and structure is not None
        coords = load_calpha(structure, settings.chains)
        eigenvalues, modes = anm_modes(coords, settings.cutoff_a, settings.n_modes)
        forward = NormalModeProjector(
            coords,
            modes,
            pixel_size_a=settings.pixel_size_a,
            grid_size=settings.grid_size,
            atom_sigma_a=settings.atom_sigma_a,
            noise_sigma=settings.noise_sigma,
            signal_rms=settings.signal_rms,
        )
        true, initial = protein_samplers(eigenvalues)
        info = {
            "n_atoms": int(coords.shape[0]),
            "eigenvalues": eigenvalues.tolist(),
            "atom_amplitude": forward.amplitude,
            "signal_rms": settings.signal_rms,
            "noise_sigma": settings.noise_sigma,
        }
        names = [f"mode_{i + 1}" for i in range(settings.n_modes)]
        return Experiment(name, forward, true, initial, names, info)
    raise ValueError(f"unknown SIP experiment {name!r}")
