"""Linear conditional flow-matching path (SPEC section 1 and 4).

t = 0 is noise, t = 1 is data: ``x_t = (1 - t) x0 + t x1`` with ``x0 ~ N(0, I)``; the regression
target is the path's velocity ``x1 - x0``.
"""

from __future__ import annotations

import torch
from torch import nn


def _per_sample(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor | float:
    """Broadcast per-sample times (B,) against a batch (B, ...); a number stays a number."""
    if isinstance(t, float | int):
        return float(t)
    return t.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def times(t: float, like: torch.Tensor) -> torch.Tensor:
    """The batch-shaped time argument (B,) of a velocity field at time ``t`` for ``like``."""
    return torch.full((like.shape[0],), t, dtype=torch.float32, device=like.device)


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Point on the linear path, ``x_t = (1 - t) x0 + t x1``."""
    t = _per_sample(t, x1)
    return (1 - t) * x0 + t * x1


def target_velocity(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Conditional velocity of the linear path, ``d x_t / dt = x1 - x0``."""
    return x1 - x0


def clean_estimate(x_t: torch.Tensor, t: torch.Tensor | float, v: torch.Tensor) -> torch.Tensor:
    """Data-end estimate ``x1_hat = x_t + (1 - t) v`` (``t``: (B,) or one number)."""
    return x_t + (1 - _per_sample(t, x_t)) * v


def noise_estimate(x_t: torch.Tensor, t: torch.Tensor | float, v: torch.Tensor) -> torch.Tensor:
    """Noise-end estimate ``x0_hat = x_t - t v`` (``t``: (B,) or one number)."""
    return x_t - _per_sample(t, x_t) * v


def draw_noise_and_time(
    batch_size: int, image_shape: tuple[int, ...], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x0 ~ N(0, I)`` of shape (B, *image_shape) and ``t ~ U[0, 1]`` of shape (B,), on CPU.

    Drawn on CPU from an explicit generator so that a batch's randomness does not depend on the
    device or on how the batch is split between processes.
    """
    x0 = torch.randn((batch_size, *image_shape), generator=generator)
    t = torch.rand((batch_size,), generator=generator)
    return x0, t


def cfm_loss(net: nn.Module, x1: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``|| v(x_t, t) - (x1 - x0) ||^2`` averaged over pixels and batch."""
    x_t = interpolate(x0, x1, t)
    v = net(x_t, t)
    return (v.float() - target_velocity(x0, x1)).pow(2).mean()
