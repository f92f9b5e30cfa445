"""FlowDPS: flow-driven posterior sampling (SPEC section 5), a configuration of the one loop.

At each step of the grid ``0 = t_0 < ... < t_N = 1`` (:class:`FlowDPSSettings`):
1. ``v = v(x, t_k)``, ``x1_hat = x + (1 - t_k) v``, ``x0_hat = x - t_k v`` (no network gradient);
2. K gradient steps of the data term on a copy of ``x1_hat`` (``x1_dc``);
3. blend ``x1_y = t_k x1_hat + (1 - t_k) x1_dc`` (or plain replacement ``x1_y = x1_dc``);
4. re-noise ``e = sqrt(1 - eta_k) x0_hat + sqrt(eta_k) xi`` (``eta_k = t_{k+1}`` by default)
   and move to ``x = t_{k+1} x1_y + (1 - t_{k+1}) e``.

``eta_k = t_{k+1}`` favours the clean estimate: with an exact prior velocity and no data the
samples are under-dispersed (``x1_hat`` is a conditional mean); ``stochasticity = 0`` is the
deterministic Euler flow and samples the prior exactly in the small-step limit.

Any operator of :mod:`flowem.physics.operators` serves (the microscope, or a restoration
degradation with the ``l2`` likelihood). Noise for item ``b`` comes from its own generator, so
one particle's samples can be rerun alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from flowem.physics.operators import Operator
from flowem.posterior.sampler import Velocity, sample, standard_normal
from flowem.posterior.settings import FlowDPSSettings


def flowdps_sample(
    velocity: Velocity,
    operator: Operator,
    y: torch.Tensor,
    generators: Sequence[torch.Generator],
    settings: FlowDPSSettings,
    scale: float = 1.0,
    image_shape: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """Posterior samples (B, *image_shape) in physical units for measurements ``y`` (B, ...).

    ``operator`` maps physical images to expected measurements; ``generators`` (one per item)
    draw the initial noise and every re-noising; ``image_shape`` defaults to ``y``'s (phase
    retrieval). ``step_size = 0`` or ``dc_steps = 0`` reduces the sampler to prior sampling.
    """
    shape = tuple(y.shape[1:]) if image_shape is None else tuple(image_shape)
    noise = standard_normal((y.shape[0], *shape), generators, y)
    return sample(velocity, noise, operator, y, settings, generators, scale)


@dataclass
class PosteriorSummary:
    """Per-particle summaries of S samples (physical units)."""

    mean: torch.Tensor  # (P, H, W)
    std: torch.Tensor  # (P, H, W), pixel-wise, over samples
    best: torch.Tensor  # (P, H, W), the sample with the lowest data residual
    best_index: torch.Tensor  # (P,)


def summarise_samples(samples: torch.Tensor, residuals: torch.Tensor) -> PosteriorSummary:
    """``samples`` (P, S, H, W) and their data residuals (P, S) -> mean, std, best sample."""
    best_index = residuals.argmin(dim=1)
    best = samples[torch.arange(samples.shape[0]), best_index]
    std = (
        samples.std(dim=1, unbiased=samples.shape[1] > 1)
        if samples.shape[1] > 1
        else (torch.zeros_like(samples[:, 0]))
    )
    return PosteriorSummary(samples.mean(dim=1), std, best, best_index)
