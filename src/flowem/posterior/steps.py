"""Data steps: how each sampler pulls the prior's clean estimate towards the measurement.

The loop (:func:`flowem.posterior.sampler.run`) evaluates the velocity at ``(x, t)``, forms the
clean and noise estimates ``x1_hat = x + (1 - t) v``, ``x0_hat = x - t v`` and hands them to a
data step, which returns a data-corrected clean estimate ``x1'``; the loop then moves to
``x' = t' x1' + (1 - t') e``, ``e = sqrt(1 - eta) x0_hat + sqrt(eta) xi`` (fresh ``xi``), or
returns ``x1'`` at ``t' = 1``. Each step is one small dataclass:

- :class:`LikelihoodGradient` (FlowDPS): K gradient steps of the data term on ``x1_hat``, then
  the blend ``t x1_hat + (1 - t) x1_dc``; ``eta = t'`` by default.
- :class:`Proximal` (``dc``): the exact proximal step ``argmin ||x - x1_hat||^2 / r_t^2 +
  ||A x - y||^2 / sigma^2``, ``r_t^2`` the error variance of ``x1_hat`` (unit prior, scaled by
  ``lr``), ``sigma`` the measurement noise (network units); constant ``eta``.
- :class:`EulerGradient` (EM Generalist SI): the Euler step plus ``- gamma_t grad`` at
  ``x1_hat`` (no network Jacobian): ``x' = x + dt v - gamma_t A^T (A x1_hat - y)``, ``eta = 0``.
- :class:`PnPGradient` (PnP-Flow): the iterate is the clean estimate; a gradient step of size
  ``gamma_{t'}`` on it, then re-noising to ``t'`` (``eta = 1`` fresh noise); the last clean
  estimate is returned as is.
- :class:`NetworkGradient` (DPS): the SI update with the gradient taken at ``x`` through the
  network, ``grad_x 0.5 || A x1_hat(x) - y ||^2``.

``schedule(t)`` is the step's data weight (``gamma_t``, or ``r_t^2`` for :class:`Proximal`);
zero turns the data off, so every step with a zero schedule samples the prior.
A new sampler is one more subclass of :class:`ScheduledStep` with its ``clean`` (or any class
with ``clean``, ``eta`` and ``network_gradient``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from flowem.posterior.data_terms import DataTerm, LeastSquares
from flowem.posterior.schedules import step_size

Schedule = Callable[[float], float]


@dataclass
class Estimates:
    """What the loop hands a data step at one time step."""

    x: torch.Tensor  # the state at t (with a graph to the velocity when network_gradient)
    t: float
    t_next: float
    clean: torch.Tensor  # x1_hat
    noise: torch.Tensor  # x0_hat


def _euler_correction(e: Estimates, gamma: float, grad: torch.Tensor) -> torch.Tensor:
    """``x1'`` such that ``t' x1' + (1 - t') x0_hat = x + dt v - gamma grad``."""
    return e.clean - (gamma / e.t_next) * grad


@dataclass(frozen=True)
class LikelihoodGradient:
    """FlowDPS: ``steps`` gradient steps of size ``step_size`` (``schedule``/``power``: see
    :func:`flowem.posterior.schedules.step_size`), the ``blend`` and FlowDPS re-noising."""

    steps: int
    step_size: float
    schedule: str = "constant"
    power: float = 1.0
    blend: str = "flowdps"  # or "replace": x1' = x1_dc
    stochasticity: float | str = "flowdps"  # eta = t' ("flowdps") or a constant
    network_gradient: ClassVar[bool] = False

    def clean(self, e: Estimates, term: DataTerm) -> torch.Tensor:
        x1 = e.clean
        if self.step_size > 0:
            for _ in range(self.steps):
                grad = term.gradient(x1)
                x1 = x1 - step_size(self.step_size, e.t, grad, self.schedule, self.power) * grad
        return e.t * e.clean + (1.0 - e.t) * x1 if self.blend == "flowdps" else x1

    def eta(self, t_next: float) -> float:
        return t_next if self.stochasticity == "flowdps" else float(self.stochasticity)


def proximal_weight(prior_error: float, noise_std: float) -> float:
    """``r_t^2 / sigma^2``: 0 without prior error, infinite for noiseless data."""
    if prior_error == 0:
        return 0.0
    return math.inf if noise_std == 0 else prior_error / noise_std**2


@dataclass(frozen=True)
class ScheduledStep:
    """A data step with a data weight ``schedule(t)`` and a constant re-noising ``renoise``;
    subclasses write :meth:`clean`."""

    schedule: Schedule
    renoise: float = 0.0
    network_gradient: ClassVar[bool] = False

    def clean(self, e: Estimates, term: DataTerm) -> torch.Tensor:
        raise NotImplementedError

    def eta(self, t_next: float) -> float:
        return self.renoise


class Proximal(ScheduledStep):
    """``dc``: exact proximal data consistency; ``schedule(t) = r_t^2``."""

    def clean(self, e: Estimates, term: LeastSquares) -> torch.Tensor:
        weight = proximal_weight(self.schedule(e.t), term.noise_std)
        return term.proximal(e.clean, weight) if weight else e.clean


class EulerGradient(ScheduledStep):
    """SI: the data gradient at ``x1_hat`` with ``gamma_t = schedule(t)`` (``renoise`` 0)."""

    def clean(self, e: Estimates, term: DataTerm) -> torch.Tensor:
        gamma = self.schedule(e.t)
        return _euler_correction(e, gamma, term.gradient(e.clean)) if gamma else e.clean


class PnPGradient(ScheduledStep):
    """PnP-Flow: gradient step ``gamma_{t'} = schedule(t')`` on the clean iterate, re-noise."""

    def clean(self, e: Estimates, term: DataTerm) -> torch.Tensor:
        gamma = self.schedule(e.t_next) if e.t_next < 1.0 else 0.0
        return e.clean - gamma * term.gradient(e.clean) if gamma else e.clean


class NetworkGradient(ScheduledStep):
    """DPS: ``gamma_t grad_x 0.5 || A x1_hat(x) - y ||^2`` through the network (``renoise`` 0)."""

    network_gradient = True

    def clean(self, e: Estimates, term: LeastSquares) -> torch.Tensor:
        residual = term.residual(e.clean)
        (grad,) = torch.autograd.grad(0.5 * residual.pow(2).sum(), e.x)
        return _euler_correction(e, self.schedule(e.t), grad).detach()


DataStep = LikelihoodGradient | Proximal | EulerGradient | PnPGradient | NetworkGradient
