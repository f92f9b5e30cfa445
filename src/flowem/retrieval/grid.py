"""Moving images between the operator's image grid and its zero-padded FFT grid."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to(image: torch.Tensor, padded_shape: tuple[int, int], value: float = 0.0) -> torch.Tensor:
    """Pad (..., H, W) at the bottom/right to ``padded_shape`` (the operator's convention)."""
    height, width = image.shape[-2:]
    return F.pad(image, (0, padded_shape[1] - width, 0, padded_shape[0] - height), value=value)


def crop_to(image: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
    return image[..., : image_shape[0], : image_shape[1]]


def image_mask(image_shape, padded_shape, device=None) -> torch.Tensor:
    """Boolean (Hp, Wp): True on the measured image, False on the padding (vacuum)."""
    mask = torch.zeros(padded_shape, dtype=torch.bool, device=device)
    mask[: image_shape[0], : image_shape[1]] = True
    return mask
