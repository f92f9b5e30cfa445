"""ODE solvers for ``dx/dt = v(x, t)`` from t = 0 (noise) to t = 1 (data).

Both are plain functions of ``(velocity, x0, ...)`` and integrate the whole batch at once in
torch, on the batch's device. The adaptive solver is the Dormand-Prince 5(4) pair (the method
behind ``scipy.integrate.solve_ivp(method="RK45")``) written in torch rather than calling scipy:
scipy would copy the flattened batch between device and host, in float64, at every one of its
evaluations, which on a GPU costs more than the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from flowem.prior.path import times

VelocityField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``v(x, t)``: x of shape (B, ...), t of shape (B,) -> velocity shaped like x."""


@dataclass
class OdeSolution:
    """End state at t = 1 and the cost of reaching it."""

    x: torch.Tensor
    evaluations: int  # calls of the velocity field
    accepted_steps: int
    rejected_steps: int = 0


def euler(velocity: VelocityField, x0: torch.Tensor, steps: int) -> OdeSolution:
    """Explicit Euler on the uniform grid ``t_k = k / steps``."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x, dt = x0, 1.0 / steps
    for k in range(steps):
        x = x + dt * velocity(x, times(k * dt, x))
    return OdeSolution(x=x, evaluations=steps, accepted_steps=steps)


# Dormand & Prince (1980) coefficients.
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
_E = tuple(b5 - b4 for b5, b4 in zip(_B5, _B4, strict=True))


def _combine(x: torch.Tensor, h: float, coeffs: tuple[float, ...], ks: list[torch.Tensor]):
    out = x
    for coeff, k in zip(coeffs, ks, strict=False):
        if coeff:
            out = out + (h * coeff) * k
    return out


def dopri5(
    velocity: VelocityField,
    x0: torch.Tensor,
    rtol: float = 1e-3,
    atol: float = 1e-3,
    first_step: float = 0.05,
    max_steps: int = 10_000,
) -> OdeSolution:
    """Adaptive Dormand-Prince 5(4) with local-error control, one step size for the batch.

    The error of a step is the RMS over each sample's pixels of
    ``(x5 - x4) / (atol + rtol * max(|x|, |x_new|))``, maximised over the batch, so every sample
    meets the tolerance; the step is accepted when it is <= 1.
    """
    t, h, x = 0.0, first_step, x0
    k1 = velocity(x, times(t, x))
    evaluations, accepted, rejected = 1, 0, 0
    while t < 1.0:
        if accepted + rejected >= max_steps:
            raise RuntimeError(f"dopri5 did not reach t = 1 in {max_steps} steps (t = {t:.4f})")
        last = h >= 1.0 - t
        h = min(h, 1.0 - t)
        ks = [k1]
        for c, a in zip(_C[1:], _A[1:], strict=True):
            ks.append(velocity(_combine(x, h, a, ks), times(t + c * h, x)))
        x_new = _combine(x, h, _B5, ks)
        k7 = velocity(x_new, times(t + h, x))  # first stage of the next step (FSAL)
        evaluations += 6
        error = _combine(torch.zeros_like(x), h, _E, [*ks, k7])
        scale = atol + rtol * torch.maximum(x.abs(), x_new.abs())
        ratio = (error / scale).flatten(1).pow(2).mean(dim=1).sqrt().max().item()
        if ratio <= 1.0:
            t, x, k1 = (1.0 if last else t + h), x_new, k7
            accepted += 1
        else:
            rejected += 1
        factor = 10.0 if ratio == 0 else 0.9 * ratio ** (-1 / 5)
        h = h * min(10.0, max(0.2, factor))
    return OdeSolution(
        x=x, evaluations=evaluations, accepted_steps=accepted, rejected_steps=rejected
    )
