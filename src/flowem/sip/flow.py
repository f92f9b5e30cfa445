"""The particle Wasserstein gradient flow driver (SPEC §7).

Each iteration: fresh omega for every particle, simulate ``y_j = T_omega_j(theta_j)``, loss
against the observed set (all of it or a minibatch), back-propagate to the particles (autograd
is the adjoint of the forward map), one Adam step with a learning rate per parameter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from flowem.errors import FlowemError
from flowem.sip.losses import SampleLoss

Tensor = torch.Tensor
log = logging.getLogger("flowem.sip")


class FlowDivergedError(FlowemError):
    """Particles or the loss became non-finite: the flow stops (lower the learning rate)."""


class VectorAdam:
    """Adam on a particle tensor ``(N, d)`` with one learning rate per parameter (column)."""

    def __init__(self, lr: Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.step_count = 0

    @torch.no_grad()
    def step(self, params: Tensor, grad: Tensor) -> None:
        b1, b2 = self.betas
        if self.m is None:
            self.m, self.v = torch.zeros_like(params), torch.zeros_like(params)
        self.step_count += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat = self.m / (1 - b1**self.step_count)
        v_hat = self.v / (1 - b2**self.step_count)
        params.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))


@dataclass
class FlowResult:
    particles: Tensor
    history: list[dict[str, Any]] = field(default_factory=list)
    iterations: int = 0
    seconds: float = 0.0
    #: iteration at which ``stop`` first returned True (None if never)
    stopped_at: int | None = None


def learning_rates(lr: float | list[float], dim: int, dtype: torch.dtype) -> Tensor:
    """The per-parameter learning-rate row ``(d,)`` from one value or a list of ``d``."""
    rates = [float(lr)] * dim if isinstance(lr, int | float) else [float(r) for r in lr]
    if len(rates) != dim:
        raise ValueError(f"{len(rates)} learning rates for {dim} parameters")
    return torch.tensor(rates, dtype=dtype)


def run_flow(
    particles: Tensor,
    forward: Callable[[Tensor, torch.Generator], Tensor],
    observed: Tensor,
    loss: SampleLoss | Callable[[Tensor, Tensor], Tensor],
    *,
    lr: float | list[float],
    iterations: int,
    generator: torch.Generator,
    batch_size: int | None = None,
    log_every: int = 50,
    monitor: Callable[[Tensor], dict[str, float]] | None = None,
    stop: Callable[[dict[str, Any]], bool] | None = None,
    check_every: int | None = None,
    progress: bool = True,
    desc: str = "sip flow",
) -> FlowResult:
    """Move ``particles`` ``(N, d)`` to minimise ``loss(forward(particles), observed)``.

    The observed set's own terms are computed once (``loss.against``); with ``batch_size`` each
    iteration compares against a fresh minibatch of it.

    ``monitor(particles)`` gives parameter-space metrics logged with the loss every
    ``log_every`` iterations (and every ``check_every`` when ``stop`` is given); the flow ends
    early once ``stop(record)`` is True. Raises :class:`FlowDivergedError` on non-finite values.
    """
    theta = particles.detach().clone()
    adam = VectorAdam(learning_rates(lr, theta.shape[1], theta.dtype).to(theta.device))
    flat_obs = observed.reshape(observed.shape[0], -1)
    if hasattr(loss, "against"):  # the observed set's own terms, once
        against = loss.against(flat_obs)
    else:
        against = lambda x, rows: loss(x, flat_obs if rows is None else flat_obs[rows])  # noqa: E731
    result = FlowResult(particles=theta)
    check_every = check_every or log_every
    start, monitor_seconds = time.perf_counter(), 0.0
    bar = tqdm(range(1, iterations + 1), desc=desc, disable=not progress, mininterval=5.0)
    for it in bar:
        theta.requires_grad_(True)
        simulated = forward(theta, generator).reshape(theta.shape[0], -1)
        rows = None
        if batch_size is not None and batch_size < flat_obs.shape[0]:
            rows = torch.randperm(flat_obs.shape[0], generator=generator)[:batch_size]
            rows = rows.to(flat_obs.device)
        value = against(simulated, rows)
        (grad,) = torch.autograd.grad(value, theta)
        theta = theta.detach()
        adam.step(theta, grad)
        if not (torch.isfinite(value) and torch.isfinite(theta).all()):
            raise FlowDivergedError(
                f"SIP flow diverged at iteration {it}: loss {float(value.detach()):.4g}, "
                f"{int((~torch.isfinite(theta)).any(1).sum())} non-finite particles; "
                "lower the learning rate (sip.lr)"
            )
        if it % check_every == 0 or it % log_every == 0 or it == iterations:
            # seconds of the flow itself: monitoring is not counted
            record = {"iteration": it, "loss": float(value.detach())}
            record["seconds"] = time.perf_counter() - start - monitor_seconds
            if monitor is not None:
                tick = time.perf_counter()
                record.update(monitor(theta))
                monitor_seconds += time.perf_counter() - tick
            result.history.append(record)
            if it % log_every == 0 or it == iterations:
                log.info("%s %s", desc, " ".join(f"{k}={v:.4g}" for k, v in record.items()))
            if stop is not None and stop(record):
                result.stopped_at = it
                break
    result.particles = theta
    result.iterations = it if iterations else 0
    result.seconds = time.perf_counter() - start - monitor_seconds
    return result
