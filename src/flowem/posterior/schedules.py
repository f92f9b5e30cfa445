"""Time grids and step-size schedules of the posterior samplers (t = 0 noise, t = 1 data)."""

from __future__ import annotations

import torch

STEP_SCHEDULES = ("constant", "power", "normalised")


def time_grid(steps: int, shift: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    """``0 = t_0 < ... < t_N = 1``: uniform for ``shift = 1``; ``shift > 1`` spends more steps
    near the noise end (the SD3 shift ``s' = shift s / (1 + (shift - 1) s)`` of the noise
    level ``s = 1 - t``, written in this project's convention)."""
    if steps < 1 or not shift > 0:
        raise ValueError(f"need steps >= 1 and shift > 0, got {steps}, {shift}")
    s = 1.0 - torch.linspace(0.0, 1.0, steps + 1, dtype=dtype)
    s = shift * s / (1.0 + (shift - 1.0) * s)
    return 1.0 - s


def step_size(
    zeta: float, t: float, gradient: torch.Tensor, mode: str, power: float = 1.0
) -> torch.Tensor:
    """The data-consistency step, broadcastable to ``gradient`` (B, H, W).

    ``constant``: zeta; ``power``: zeta (1 - t)^power (large early, small late);
    ``normalised``: zeta / rms(gradient) per image, so that zeta is the RMS step in network
    units (note: it keeps moving by zeta even at a stationary point).
    """
    if mode == "constant":
        return torch.as_tensor(zeta, dtype=gradient.dtype)
    if mode == "power":
        return torch.as_tensor(zeta * (1.0 - t) ** power, dtype=gradient.dtype)
    if mode == "normalised":
        rms = gradient.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt()
        return zeta / (rms + 1e-12)
    raise ValueError(f"unknown step-size mode {mode!r} (constant, power, normalised)")


def power_decay(lr: float, alpha: float, t: float) -> float:
    """``lr (1 - t)^alpha`` (``0^0 = 1``): PnP-Flow's data weight (large at noise)."""
    return lr * (1.0 - t) ** alpha


def power_growth(lr: float, alpha: float, t: float) -> float:
    """``lr t^alpha`` (``0^0 = 1``): the EM Generalist supplement's SI data weight, written with
    t = 1 at noise there, translated to this project's t = 0 noise (SPEC section 6)."""
    return lr * t**alpha


#: data-weight schedules ``gamma_t`` of the restoration updates, by name
DATA_WEIGHTS = {"pnp": power_decay, "si": power_growth}


def prior_error_variance(t: float, lr: float = 1.0) -> float:
    """``lr (1 - t)^2 / (t^2 + (1 - t)^2)``: ``lr`` times the error variance of ``x1_hat`` at
    ``t`` for a unit-variance Gaussian prior (exact velocity), ``lr`` at t = 0, 0 at t = 1."""
    return lr * (1.0 - t) ** 2 / (t**2 + (1.0 - t) ** 2)
