"""The trained prior as a velocity callable on (B, H, W) images in network units."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from flowem.prior.checkpoint import load_prior_model


def load_velocity(
    model_path: str | Path, device: torch.device
) -> tuple[Callable[[torch.Tensor, float], torch.Tensor], float, int]:
    """``(velocity, scale, image_size)``: ``scale`` maps network units to radians."""
    net, normaliser, _ = load_prior_model(model_path, device)
    dtype = next(net.parameters()).dtype

    @torch.no_grad()
    def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
        times = torch.full((x.shape[0],), float(t), device=x.device, dtype=dtype)
        return net(x[:, None].to(dtype), times)[:, 0].to(x.dtype)

    return velocity, float(normaliser.scale), int(net.config.image_size)
