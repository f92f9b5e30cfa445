"""Centring images in a square box of another size: cropping about the centre, or padding."""

from __future__ import annotations

import numpy as np


def centre_crop_or_pad(images: np.ndarray, size: int, *, pad: bool = True) -> np.ndarray:
    """The centred ``size x size`` box of the last two axes of ``images`` ``(..., H, W)``.

    A side longer than the box is cropped from ``(n - size) // 2``. A shorter one is, with
    ``pad``, centred in the box (from ``(size - n) // 2``) on the median of ``images`` (a
    particle's solvent); without ``pad`` the box shrinks to ``min(size, H, W)`` instead.
    Cropping returns a view.
    """
    height, width = images.shape[-2:]
    box = size if pad else min(size, height, width)
    top, left = max(height - box, 0) // 2, max(width - box, 0) // 2
    cropped = images[..., top : top + box, left : left + box]
    if cropped.shape[-2:] == (box, box):
        return cropped
    out = np.full((*images.shape[:-2], box, box), np.median(images), dtype=images.dtype)
    inner_h, inner_w = cropped.shape[-2:]
    top, left = (box - inner_h) // 2, (box - inner_w) // 2
    out[..., top : top + inner_h, left : left + inner_w] = cropped
    return out
