"""The one sampling loop: prior velocity + data step on a time grid (SPEC sections 1, 5, 6).

Time convention: t = 0 noise, t = 1 data. On the grid ``0 = t_0 < ... < t_N = 1``
(:func:`flowem.posterior.schedules.time_grid`) each step evaluates ``v = v(x, t)``, forms the
clean and noise estimates of :mod:`flowem.prior.path`, lets the data step (:mod:`.steps`)
correct the clean estimate against the data term (:mod:`.data_terms`), re-noises and moves to
the next time. FlowDPS (phase retrieval) and every restoration sampler (``si``, ``pnp``, ``dps``,
``dc``) are configurations of :func:`run`; stitching (:class:`~flowem.restore.stitching.
StitchedVelocity`) and axial cycling (:mod:`flowem.restore.axial`) wrap the velocity.

Randomness: ``generators`` is one ``torch.Generator`` for the whole batch, or one per item (so
an item's samples can be rerun alone); draws are made on CPU in float32 and then moved.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Protocol

import torch
from tqdm.auto import tqdm

from flowem.physics.operators import Operator
from flowem.posterior.data_terms import DataTerm
from flowem.posterior.steps import DataStep, Estimates
from flowem.prior.path import clean_estimate, noise_estimate, times
from flowem.prior.solvers import VelocityField

Velocity = VelocityField
Generators = torch.Generator | Sequence[torch.Generator] | None


def standard_normal(
    shape: tuple[int, ...], generators: Generators, like: torch.Tensor | None = None
) -> torch.Tensor:
    """``N(0, I)`` of ``shape`` (B, ...) from one generator or one per item (``like``: the
    device and dtype to move to)."""
    if generators is None:
        raise ValueError("drawing noise needs a generator (one, or one per item)")
    if isinstance(generators, torch.Generator):
        draw = torch.randn(shape, generator=generators)
    else:
        if len(generators) != shape[0]:
            raise ValueError(f"{len(generators)} generators for {shape[0]} items")
        draw = torch.stack([torch.randn(shape[1:], generator=g) for g in generators])
    return draw if like is None else draw.to(device=like.device, dtype=like.dtype)


def renoise(noise_hat: torch.Tensor, eta: float, generators: Generators) -> torch.Tensor:
    """``sqrt(1 - eta) x0_hat + sqrt(eta) n`` with fresh ``n ~ N(0, I)`` (``eta = 0``: x0_hat)."""
    if eta == 0:
        return noise_hat
    fresh = standard_normal(tuple(noise_hat.shape), generators, noise_hat)
    return math.sqrt(1.0 - eta) * noise_hat + math.sqrt(eta) * fresh


def run(
    velocity: Velocity,
    noise: torch.Tensor,
    term: DataTerm,
    step: DataStep,
    grid: torch.Tensor,
    generators: Generators = None,
    progress: bool | str = False,
) -> torch.Tensor:
    """A posterior sample per ``noise`` item, in network units.

    ``velocity(x, t)`` takes per-item times ``t`` (B,); ``grid`` runs from 0 to 1;
    ``generators`` feed the re-noising; ``progress`` (a label) shows a progress bar.
    """
    x = noise
    label = progress if isinstance(progress, str) else "sample"
    pairs = list(itertools.pairwise(grid.tolist()))
    for t, t_next in tqdm(pairs, disable=not progress, desc=label):
        with torch.set_grad_enabled(step.network_gradient):
            if step.network_gradient:
                x = x.detach().requires_grad_(True)
            v = velocity(x, times(t, x))
            clean, noise_hat = clean_estimate(x, t, v), noise_estimate(x, t, v)
        estimates = Estimates(x, t, t_next, clean, noise_hat)
        clean_y = step.clean(estimates, term)
        if t_next >= 1.0:
            return clean_y.detach()
        e = renoise(noise_hat.detach(), step.eta(t_next), generators)
        x = (t_next * clean_y + (1.0 - t_next) * e).detach()
    return x.detach()


class SamplerConfig(Protocol):
    """What a sampler's settings provide to the loop (:mod:`flowem.posterior.settings`)."""

    def grid(self) -> torch.Tensor: ...
    def data_step(self) -> DataStep: ...
    def data_term(
        self, operator: Operator, y: torch.Tensor, scale: float, noise_std: float | None = None
    ) -> DataTerm: ...


def sample(
    velocity: Velocity,
    noise: torch.Tensor,
    operator: Operator,
    y: torch.Tensor,
    settings: SamplerConfig,
    generators: Generators = None,
    scale: float = 1.0,
    noise_std: float | None = None,
) -> torch.Tensor:
    """Posterior samples in physical units, one per ``noise`` item (network units).

    ``y`` is the measurement in physical units (``operator``'s output); ``scale`` maps network
    to physical units; ``noise_std`` (physical) overrides the operator's noise model's std.
    """
    term = settings.data_term(operator, y, scale, noise_std)
    progress = getattr(settings, "progress", False) and getattr(settings, "method", "sample")
    out = run(velocity, noise, term, settings.data_step(), settings.grid(), generators, progress)
    return scale * out
