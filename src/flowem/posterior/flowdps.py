"""FlowDPS: flow-driven posterior sampling (SPEC.md section 5), in the project's convention.

At each step of the grid ``0 = t_0 < ... < t_N = 1``:
1. ``v = v(x, t_k)``, ``x1_hat = x + (1 - t_k) v``, ``x0_hat = x - t_k v`` (no network gradient);
2. K gradient steps of the data term on a copy of ``x1_hat`` (``x1_dc``);
3. blend ``x1_y = t_k x1_hat + (1 - t_k) x1_dc`` (or plain replacement ``x1_y = x1_dc``);
4. re-noise ``e = sqrt(1 - eta_k) x0_hat + sqrt(eta_k) xi`` (``eta_k = t_{k+1}`` by default)
   and move to ``x = t_{k+1} x1_y + (1 - t_{k+1}) e``.

``eta_k = t_{k+1}`` favours the clean estimate: with an exact prior velocity and no data the
samples are under-dispersed (``x1_hat`` is a conditional mean); ``stochasticity = 0`` is the
deterministic Euler flow and samples the prior exactly in the small-step limit.

The sampler works in network units; ``scale`` maps them to the operator's physical units.
Noise for item ``b`` comes from its own generator, so one particle's samples can be rerun alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from flowem.posterior.likelihood import LIKELIHOODS
from flowem.posterior.schedules import step_size, time_grid

Velocity = Callable[[torch.Tensor, float], torch.Tensor]
Operator = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FlowDPSSettings:
    """Knobs of the sampler (config section ``flowdps``)."""

    steps: int = 50
    time_shift: float = 1.0
    dc_steps: int = 3
    step_size: float = 0.1
    step_schedule: str = "constant"
    step_power: float = 1.0
    likelihood: str = "poisson"
    blend: str = "flowdps"
    stochasticity: float | str = "flowdps"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.dc_steps < 0 or not self.step_size >= 0:
            raise ValueError("need steps >= 1, dc_steps >= 0 and step_size >= 0")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}")
        if self.blend not in ("flowdps", "replace"):
            raise ValueError("blend must be 'flowdps' or 'replace'")
        if self.stochasticity != "flowdps" and not 0.0 <= float(self.stochasticity) <= 1.0:
            raise ValueError("stochasticity must be 'flowdps' or a number in [0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)


def _noise(generators: Sequence[torch.Generator], shape, dtype, device) -> torch.Tensor:
    """One standard-normal draw per item, each from its own generator (CPU, then moved)."""
    draws = [torch.randn(shape, generator=g, dtype=torch.float32) for g in generators]
    return torch.stack(draws).to(device=device, dtype=dtype)


def data_gradient(
    x1: torch.Tensor, y: torch.Tensor, operator: Operator, scale: float, likelihood: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the per-image data term w.r.t. ``x1`` (network units) and the term.

    The term is divided by the operator's vacuum counts ``alpha`` (when it has one): the
    curvature of the Poisson likelihood grows with the dose, so this keeps one step size
    meaningful across doses.
    """
    norm = float(getattr(operator, "alpha", 1.0))
    with torch.enable_grad():
        x1 = x1.detach().requires_grad_(True)
        loss = LIKELIHOODS[likelihood](y, operator(scale * x1)) / norm
        (grad,) = torch.autograd.grad(loss.sum(), x1)
    return grad, loss.detach()


def flowdps_sample(
    velocity: Velocity,
    operator: Operator,
    y: torch.Tensor,
    generators: Sequence[torch.Generator],
    settings: FlowDPSSettings,
    scale: float = 1.0,
) -> torch.Tensor:
    """Posterior samples (B, H, W) in network units for measurements ``y`` (B, H, W).

    ``operator`` maps physical images (B, H, W) to expected counts; ``generators`` (one per
    item) draw the initial noise and every re-noising. ``step_size = 0`` or ``dc_steps = 0``
    reduces the sampler to prior sampling (with the chosen stochasticity).
    """
    if len(generators) != y.shape[0]:
        raise ValueError(f"{len(generators)} generators for {y.shape[0]} measurements")
    grid = time_grid(settings.steps, settings.time_shift).tolist()
    shape, dtype, device = tuple(y.shape[-2:]), y.dtype, y.device
    x = _noise(generators, shape, dtype, device)
    for t, t_next in itertools.pairwise(grid):
        with torch.no_grad():
            v = velocity(x, t)
            x1_hat = x + (1.0 - t) * v
            x0_hat = x - t * v
        x1_dc = x1_hat
        if settings.step_size > 0:
            for _ in range(settings.dc_steps):
                grad, _ = data_gradient(x1_dc, y, operator, scale, settings.likelihood)
                zeta = step_size(
                    settings.step_size, t, grad, settings.step_schedule, settings.step_power
                )
                x1_dc = x1_dc - zeta * grad
        x1_y = t * x1_hat + (1.0 - t) * x1_dc if settings.blend == "flowdps" else x1_dc
        if t_next >= 1.0:
            x = x1_y
            break
        eta = t_next if settings.stochasticity == "flowdps" else float(settings.stochasticity)
        xi = _noise(generators, shape, dtype, device) if eta > 0 else torch.zeros_like(x)
        e = (1.0 - eta) ** 0.5 * x0_hat + eta**0.5 * xi
        x = (t_next * x1_y + (1.0 - t_next) * e).detach()
    return x.detach()


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
