"""The trained prior as a velocity field ``v(x, t)`` in data units (adapter to ``flowem.prior``).

``flowem.prior`` trains on images divided by a dataset statistic ``scale`` (its ``Normaliser``):
network units ``u = x / scale``. The samplers run in network units (noise ``N(0, I)`` there);
the restoration converts measurements in and results out with :class:`PriorVelocity`'s scale.
Linear operators commute with the scaling, so ``A u = y / scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from flowem.prior.checkpoint import load_prior_model
from flowem.prior.network import VelocityNet


@dataclass
class PriorVelocity:
    """The EMA network and its data scale; calling it evaluates ``v(u, t)`` without gradients
    to the weights (gradients to ``u`` still flow, for DPS)."""

    net: VelocityNet
    scale: float
    patch: int
    path: str = ""

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(torch.float32), t).to(x.dtype)

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.scale

    def to_data(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.scale


def load_velocity(model_path: str | Path, device: torch.device | str = "cpu") -> PriorVelocity:
    """Load the EMA model written by ``train-prior`` (``flowem.prior.checkpoint``)."""
    net, normaliser, _ = load_prior_model(model_path, device)
    return PriorVelocity(net, float(normaliser.scale), int(net.config.image_size), str(model_path))
