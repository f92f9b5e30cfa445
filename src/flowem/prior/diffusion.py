"""The diffusion rival of the flow prior: DDPM epsilon prediction, read as a linear-path velocity.

Training (``train-prior`` with ``objective: diffusion``): the same U-Net, data and budget as the
flow prior, on the variance-preserving (VP) path ``x_s = alpha(s) x + sigma(s) eps`` with
Nichol & Dhariwal's cosine schedule in continuous time,
``alpha(s)^2 = f(s) / f(0)``, ``f(s) = cos^2(pi/2 (s + delta) / (1 + delta))``, ``delta = 0.008``,
``sigma(s)^2 = 1 - alpha(s)^2``: ``s = 0`` is data, ``s = 1`` pure noise (``alpha(1) = 0``), and
``s ~ U[0, 1]``. The loss is ``|| eps - eps_theta(x_s, s) ||^2``.

Sampling: every sampler runs on this project's linear path ``x_t = (1 - t) eps + t x`` (t = 1 is
data; :mod:`flowem.prior.path`). Both paths are the same up to a scale: the VP point whose
signal fraction ``alpha / (alpha + sigma)`` equals ``t`` is ``x_s = (alpha + sigma) x_t``
(:func:`vp_time`). So the epsilon model gives ``eps_hat``, the clean estimate
``x_hat = (x_t - (1 - t) eps_hat) / t`` and the linear-path velocity
``v = x_hat - eps_hat = (x_t - eps_hat) / t`` (:func:`velocity_from_epsilon`), and one sampling
loop, DPS included, runs on either prior. ``t`` is floored at :data:`T_MIN`: at pure noise an
epsilon model carries no information about the data (``v`` is 0 / 0 there).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

DELTA = 0.008  # Nichol & Dhariwal's offset: alpha barely below 1 at s = 0
T_MIN = 1e-3  # smallest linear-path time at which the epsilon model is read as a velocity
_ANGLE0 = 0.5 * math.pi * DELTA / (1 + DELTA)


def _column(s: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return s.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def alpha_sigma(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alpha(s), sigma(s))`` of the cosine VP schedule; ``alpha^2 + sigma^2 = 1``."""
    s = torch.as_tensor(s, dtype=torch.float64)
    angle = 0.5 * math.pi * (s + DELTA) / (1 + DELTA)
    alpha = (torch.cos(angle) / math.cos(_ANGLE0)).clamp(0.0, 1.0)
    return alpha, torch.sqrt(1 - alpha**2)


def vp_time(t: torch.Tensor) -> torch.Tensor:
    """The VP time ``s`` with ``alpha(s) / (alpha(s) + sigma(s)) = t`` (decreasing in ``t``;
    ``t = 1 -> s = 0``, ``t = 0 -> s = 1``), in closed form: ``alpha^2 = t^2 / (t^2 + (1-t)^2)``."""
    t = torch.as_tensor(t, dtype=torch.float64).clamp(0.0, 1.0)
    alpha = t / torch.sqrt(t**2 + (1 - t) ** 2)
    angle = torch.arccos((alpha * math.cos(_ANGLE0)).clamp(-1.0, 1.0))
    return ((1 + DELTA) * angle / (0.5 * math.pi) - DELTA).clamp(0.0, 1.0)


def noised(x1: torch.Tensor, eps: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The VP point ``x_s = alpha(s) x1 + sigma(s) eps`` (``s``: (B,))."""
    alpha, sigma = alpha_sigma(s)
    return _column(alpha, x1) * x1 + _column(sigma, x1) * eps


def epsilon_loss(net: nn.Module, x1: torch.Tensor, eps: torch.Tensor, s: torch.Tensor):
    """``|| eps_theta(x_s, s) - eps ||^2`` averaged over pixels and batch: the DDPM ("simple")
    objective, with the arguments of :func:`flowem.prior.path.cfm_loss` (noise, time)."""
    prediction = net(noised(x1, eps, s), s)
    return (prediction.float() - eps).pow(2).mean()


def velocity_from_epsilon(
    epsilon: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    t: torch.Tensor,
) -> torch.Tensor:
    """The linear-path velocity at ``(x, t)`` (``x``: (B, ...), ``t``: (B,)) of the epsilon
    model ``epsilon(x_s, s)`` of the VP path."""
    t = torch.as_tensor(t, device=x.device).reshape(-1).expand(x.shape[0]).clamp(T_MIN, 1.0)
    s = vp_time(t)
    alpha, sigma = alpha_sigma(s)
    eps_hat = epsilon(_column(alpha + sigma, x).to(x.device) * x, s.to(x.device))
    return (x - eps_hat.to(x.dtype)) / _column(t, x)
