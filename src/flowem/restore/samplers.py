"""Posterior samplers with a flow prior: the SI update, the PnP-flow update and flow DPS.

A sampler is a plain function ``sample(velocity, noise, operator, y, settings)``: ``velocity(x, t)``
is any callable (the prior network, a stitched or sliced wrapper of it, an analytic field), the
operator comes at call time. Time convention of SPEC section 1: t = 0 noise, t = 1 data, uniform
grid ``t_k = k / N``, ``x1_hat = x + (1 - t) v``, ``x0_hat = x - t v``; data step
``gamma_t = lr (1 - t)^alpha`` on ``0.5 || y - A x ||^2`` (gradient ``A^T (A x - y)``).

- ``si`` (EM Generalist SI, translated): ``x <- x + dt v - gamma_t A^T (A x1_hat - y)``; the
  gradient is taken at ``x1_hat`` with no network Jacobian. One network call per step.
- ``pnp`` (PnP-flow): ``z = x - gamma_t A^T (A x - y)``; ``z~ = t z + (1 - t) xi``;
  ``x <- z~ + (1 - t) v(z~, t)``. The iterate ``x`` is a clean-image estimate. The re-noising
  ``xi = sqrt(1 - eta) x0_hat + sqrt(eta) n``, ``n ~ N(0, I)`` fresh: ``eta = 1`` is PnP-flow's
  fresh noise, ``eta = 0`` re-uses the previous noise estimate (with zero data weight this is
  exactly the Euler ODE sampler, because an Euler step is ``t' x1_hat + (1 - t') x0_hat``).
- ``dps`` (diffusion-style DPS): the SI update with many steps and the gradient taken at ``x``
  through the network, ``grad_x 0.5 || y - A x1_hat(x) ||^2`` (autograd through ``velocity``).
- ``dc`` (noise-aware data consistency, the default): the clean estimate is replaced by the
  exact proximal step ``x1_dc = argmin ||x - x1_hat||^2 / r_t^2 + ||A x - y||^2 / sigma^2``
  (:meth:`LinearOperator.proximal`), ``r_t^2 = lr (1 - t)^2 / (t^2 + (1 - t)^2)`` the error
  variance of ``x1_hat`` under a unit-variance prior (``lr`` scales it) and ``sigma`` the
  measurement noise std; then ``x <- (t + dt) x1_dc + (1 - t - dt) xi`` with ``xi`` re-noised
  as in ``pnp`` (``eta``). Unlike a gradient step of size ``gamma_t`` it is exact for every
  operator whatever its norm (area downsampling has ``||A||^2 = 1 / k^2``), weighs the data by
  its noise (denoising keeps the prior's say, noiseless axial data are imposed exactly) and the
  last step returns a data-consistent clean estimate. ``alpha`` is not used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from flowem.errors import ConfigError
from flowem.restore.operators import LinearOperator

VelocityField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
METHODS = ("si", "pnp", "dps", "dc")


@dataclass(frozen=True)
class SamplerSettings:
    """Which update, how many steps and how strong the data term (``gamma_t``)."""

    method: str = "si"
    steps: int = 50
    lr: float = 1.0
    alpha: float = 0.3
    eta: float = 1.0  # PnP re-noising: 1 fresh noise, 0 the previous noise estimate
    dps_steps: int = 500
    dps_lr: float | None = None  # None: lr * steps / dps_steps (same total data push)
    progress: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"sampler method must be one of {METHODS}, got {self.method!r}")
        if min(self.steps, self.dps_steps) < 1:
            raise ConfigError("sampler steps and dps_steps must be >= 1")
        if self.lr < 0 or self.alpha < 0 or not 0 <= self.eta <= 1:
            raise ConfigError("sampler: need lr >= 0, alpha >= 0 and 0 <= eta <= 1")

    @property
    def n_steps(self) -> int:
        return self.dps_steps if self.method == "dps" else self.steps

    @property
    def step_lr(self) -> float:
        if self.method != "dps":
            return self.lr
        return self.lr * self.steps / self.dps_steps if self.dps_lr is None else self.dps_lr

    def gamma(self, t: float) -> float:
        """Data step size ``gamma_t = lr (1 - t)^alpha`` (``0^0 = 1``)."""
        return self.step_lr * (1.0 - t) ** self.alpha

    def data_weight(self, t: float, noise_std: float) -> float:
        """``dc``: weight ``r_t^2 / sigma^2`` of the data against ``x1_hat`` (inf if noiseless)."""
        r2 = self.lr * (1.0 - t) ** 2 / (t**2 + (1.0 - t) ** 2)
        return math.inf if noise_std == 0 else r2 / noise_std**2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def at_time(t: float, x: torch.Tensor) -> torch.Tensor:
    """Per-sample time vector (B,) for the batch ``x``."""
    return torch.full((x.shape[0],), t, dtype=torch.float32, device=x.device)


@torch.no_grad()
def si_step(
    velocity: VelocityField,
    x: torch.Tensor,
    t: float,
    dt: float,
    operator: LinearOperator,
    y: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """One SI update: Euler step plus a data gradient evaluated at ``x1_hat``."""
    v = velocity(x, at_time(t, x))
    out = x + dt * v
    if gamma:
        out = out - gamma * operator.data_gradient(x + (1.0 - t) * v, y)
    return out


@torch.no_grad()
def pnp_step(
    velocity: VelocityField,
    x: torch.Tensor,
    noise_hat: torch.Tensor,
    t: float,
    operator: LinearOperator,
    y: torch.Tensor,
    gamma: float,
    eta: float,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One PnP-flow update; returns the new clean estimate and its noise estimate."""
    z = x - gamma * operator.data_gradient(x, y) if gamma else x
    xi = renoise(noise_hat, eta, generator)
    z_t = t * z + (1.0 - t) * xi
    v = velocity(z_t, at_time(t, z_t))
    return z_t + (1.0 - t) * v, z_t - t * v


def renoise(noise_hat: torch.Tensor, eta: float, generator: torch.Generator | None) -> torch.Tensor:
    """``sqrt(1 - eta) x0_hat + sqrt(eta) n`` with fresh ``n ~ N(0, I)``."""
    if eta == 0:
        return noise_hat
    if generator is None:
        raise ValueError("re-noising with eta > 0 needs a generator for the fresh noise")
    fresh = torch.randn(noise_hat.shape, generator=generator)
    fresh = fresh.to(device=noise_hat.device, dtype=noise_hat.dtype)
    return math.sqrt(1.0 - eta) * noise_hat + math.sqrt(eta) * fresh


@torch.no_grad()
def dc_step(
    velocity: VelocityField,
    x: torch.Tensor,
    t: float,
    dt: float,
    operator: LinearOperator,
    y: torch.Tensor,
    weight: float,
    eta: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One ``dc`` update: proximal data step on ``x1_hat``, then move to ``t + dt``."""
    v = velocity(x, at_time(t, x))
    clean = x + (1.0 - t) * v
    if weight:
        clean = operator.proximal(clean, y, weight)
    if t + dt >= 1.0:
        return clean
    return (t + dt) * clean + (1.0 - t - dt) * renoise(x - t * v, eta, generator)


def dps_step(
    velocity: VelocityField,
    x: torch.Tensor,
    t: float,
    dt: float,
    operator: LinearOperator,
    y: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """One DPS update: Euler step plus the data gradient back-propagated through the network."""
    with torch.enable_grad():
        x_in = x.detach().requires_grad_(True)
        v = velocity(x_in, at_time(t, x_in))
        residual = operator.forward(x_in + (1.0 - t) * v) - y
        (grad,) = torch.autograd.grad(0.5 * residual.pow(2).sum(), x_in)
    return (x + dt * v.detach() - gamma * grad).detach()


def sample(
    velocity: VelocityField,
    noise: torch.Tensor,
    operator: LinearOperator,
    y: torch.Tensor,
    settings: SamplerSettings,
    generator: torch.Generator | None = None,
    noise_std: float = 0.0,
) -> torch.Tensor:
    """A posterior sample per noise image (B, C, H, W); ``generator`` feeds the fresh noise of
    ``pnp`` and ``dc``; ``noise_std`` is the measurement noise std in ``y``'s units (``dc``)."""
    steps = settings.n_steps
    dt = 1.0 / steps
    x = noise
    noise_hat = noise
    for k in tqdm(range(steps), disable=not settings.progress, desc=settings.method):
        t = k * dt
        gamma = settings.gamma(t)
        if settings.method == "si":
            x = si_step(velocity, x, t, dt, operator, y, gamma)
        elif settings.method == "dc":
            weight = settings.data_weight(t, noise_std) if settings.lr else 0.0
            x = dc_step(velocity, x, t, dt, operator, y, weight, settings.eta, generator)
        elif settings.method == "pnp":
            eta = settings.eta if k else 0.0  # the first step starts from ``noise`` itself
            x, noise_hat = pnp_step(velocity, x, noise_hat, t, operator, y, gamma, eta, generator)
        else:
            x = dps_step(velocity, x, t, dt, operator, y, gamma)
    return x
