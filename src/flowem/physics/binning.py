"""Integer binning of image stacks: averaging for phase maps, summing for counts."""

from __future__ import annotations

import torch


def _blocks(images: torch.Tensor, factor: int) -> torch.Tensor:
    if factor < 1:
        raise ValueError(f"bin factor must be >= 1, got {factor}")
    *lead, height, width = images.shape
    if height % factor or width % factor:
        raise ValueError(f"image size {height} x {width} is not divisible by bin factor {factor}")
    return images.reshape(*lead, height // factor, factor, width // factor, factor)


def bin_mean(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Average ``factor x factor`` blocks of ``(..., H, W)``: phase maps keep their radians."""
    return _blocks(images, factor).mean(dim=(-3, -1))


def bin_sum(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Sum ``factor x factor`` blocks of ``(..., H, W)``: counts keep their total."""
    return _blocks(images, factor).sum(dim=(-3, -1))
