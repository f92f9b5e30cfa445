"""Fixtures of the restoration tests: small velocity fields with known behaviour."""

from __future__ import annotations

import pytest
import torch


class ConvVelocity(torch.nn.Module):
    """A fixed random 3 x 3 convolution, time-modulated: a non-pointwise stand-in network."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False).double()
        with torch.no_grad():
            self.conv.weight.copy_(0.3 * torch.randn(1, 1, 3, 3, generator=gen))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, 1, 1, 1).to(x.dtype)
        return torch.tanh(self.conv(x)) * (1 + t) - x


@pytest.fixture
def conv_velocity() -> ConvVelocity:
    return ConvVelocity()
