"""Two sample sets, and gradient checks of a set discrepancy ``loss(x, y)`` in ``x``."""

from __future__ import annotations

import pytest
import torch


def two_sets(n: int, m: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``x ~ N(0, I)`` ``(n, d)`` and ``y ~ N(0.5, 0.49 I)`` ``(m, d)``, float64."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = 0.7 * torch.randn(m, d, generator=gen, dtype=torch.float64) + 0.5
    return x, y


def value_and_grad(loss, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    value = loss(x)
    (grad,) = torch.autograd.grad(value, x)
    return value.detach(), grad


def check_gradient(loss, x: torch.Tensor, y: torch.Tensor, eps: float = 1e-6, coords: int = 6):
    """Autograd's gradient of ``loss(x, y)`` equals central differences at ``coords`` entries."""
    _, grad = value_and_grad(lambda a: loss(a, y), x)
    flat = x.detach().reshape(-1)
    for i in torch.linspace(0, flat.numel() - 1, coords).long().tolist():
        plus, minus = flat.clone(), flat.clone()
        plus[i] += eps
        minus[i] -= eps
        fd = (loss(plus.reshape(x.shape), y) - loss(minus.reshape(x.shape), y)) / (2 * eps)
        assert float(grad.reshape(-1)[i]) == pytest.approx(float(fd), rel=1e-4, abs=1e-9)
