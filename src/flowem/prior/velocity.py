"""The trained prior as a velocity field ``v(x, t)``: the one adapter every sampler uses.

``flowem.prior`` trains on images divided by a dataset statistic ``scale`` (its ``Normaliser``):
network units ``u = x / scale``, where the prior's noise is ``N(0, I)``. :class:`PriorVelocity`
evaluates the EMA network on a batch ``x`` of shape (B, H, W) or (B, C, H, W) at per-item times
``t`` of shape (B,), and converts between network and physical units (radians for phase maps,
grey levels for EM images). Samplers work in network units and take ``scale`` to apply
operators to physical images (:mod:`flowem.posterior`). A prior trained with the diffusion
objective loads as :class:`DiffusionVelocity`: the same interface, its epsilon network read as
a velocity on the linear path (:mod:`flowem.prior.diffusion`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from flowem.prior.checkpoint import load_prior_model
from flowem.prior.diffusion import velocity_from_epsilon
from flowem.prior.network import VelocityNet


@dataclass
class PriorVelocity:
    """The EMA network and its data scale; calling it evaluates ``v(u, t)`` without gradients
    to the weights (gradients to ``u`` still flow, for DPS)."""

    net: VelocityNet
    scale: float
    patch: int  # the network's image size (pixels)
    path: str = ""

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``v`` (shape of ``x``) at times ``t`` (B,); (B, H, W) images are one channel."""
        return self.network_output(x, t)

    def network_output(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The network itself at ``(x, t)`` (its own time convention), shaped like ``x``."""
        dtype = next(self.net.parameters()).dtype
        plain = x.ndim == 3
        batch = x[:, None] if plain else x
        out = self.net(batch.to(dtype), t.to(device=x.device, dtype=dtype)).to(x.dtype)
        return out[:, 0] if plain else out

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.scale

    def to_data(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.scale


class DiffusionVelocity(PriorVelocity):
    """A prior trained with the diffusion objective: ``net`` predicts the noise ``eps`` of the
    VP path; calling it gives the linear-path velocity (:func:`velocity_from_epsilon`)."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return velocity_from_epsilon(self.network_output, x, t)


def load_velocity(model_path: str | Path, device: torch.device | str = "cpu") -> PriorVelocity:
    """Load the EMA model written by ``train-prior`` (``flowem.prior.checkpoint``); its
    training objective picks the adapter."""
    net, normaliser, payload = load_prior_model(model_path, device)
    adapter = DiffusionVelocity if payload.get("objective") == "diffusion" else PriorVelocity
    return adapter(net, float(normaliser.scale), int(net.config.image_size), str(model_path))
