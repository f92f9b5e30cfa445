"""Registration of a result onto its reference before full-reference metrics (paired real data
is rarely aligned to the pixel): sub-pixel translation by phase correlation, or a dense
TV-L1 optical flow for local misalignment. Both return the aligned pair cropped to the
region where the moved image has data, so borders filled by the shift do not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.registration import optical_flow_tvl1, phase_cross_correlation
from skimage.transform import warp


@dataclass(frozen=True)
class Registration:
    """An aligned pair: ``shift`` (pixels, per axis) moved ``image`` onto ``reference``."""

    reference: np.ndarray
    image: np.ndarray
    shift: tuple[float, ...]
    error: float


def _crop(arrays: tuple[np.ndarray, ...], margin: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    index = tuple(slice(m, n - m) for m, n in zip(margin, arrays[0].shape, strict=True))
    return tuple(a[index] for a in arrays)


def register_translation(reference, image, upsample_factor: int = 20) -> Registration:
    """Align ``image`` to ``reference`` by the sub-pixel translation of phase correlation.

    The image is moved with cubic-spline interpolation; both are cropped by the shift
    (rounded up) on every side. ``shift`` is what was applied to ``image``.
    """
    reference = np.asarray(reference, dtype=np.float64)
    image = np.asarray(image, dtype=np.float64)
    if reference.shape != image.shape:
        raise ValueError(f"reference {reference.shape} and image {image.shape} differ in shape")
    shift, error, _ = phase_cross_correlation(
        reference, image, upsample_factor=upsample_factor, normalization=None
    )
    moved = ndimage.shift(image, shift, order=3, mode="nearest")
    margin = tuple(math.ceil(abs(s)) for s in shift)
    if any(2 * m >= n for m, n in zip(margin, image.shape, strict=True)):
        raise ValueError(f"shift {tuple(shift)} leaves no overlap in shape {image.shape}")
    ref_c, img_c = _crop((reference, moved), margin)
    return Registration(ref_c, img_c, tuple(float(s) for s in shift), float(error))


def register_optical_flow(reference, image, margin: int = 8, **kwargs) -> Registration:
    """Align a 2D ``image`` to ``reference`` with a dense TV-L1 optical flow (scikit-image).

    ``kwargs`` go to :func:`skimage.registration.optical_flow_tvl1`. ``shift`` is the mean
    flow; ``error`` the RMS residual after warping. Both are cropped by ``margin`` pixels.
    """
    reference = np.asarray(reference, dtype=np.float64)
    image = np.asarray(image, dtype=np.float64)
    if reference.ndim != 2 or reference.shape != image.shape:
        raise ValueError(f"need two 2D images of one shape, got {reference.shape}, {image.shape}")
    flow = optical_flow_tvl1(reference, image, **kwargs)
    rows, cols = np.meshgrid(*(np.arange(n) for n in image.shape), indexing="ij")
    moved = warp(image, np.array([rows + flow[0], cols + flow[1]]), mode="edge")
    ref_c, img_c = _crop((reference, moved), (margin, margin))
    error = float(np.sqrt(np.mean((ref_c - img_c) ** 2)))
    return Registration(ref_c, img_c, (-float(flow[0].mean()), -float(flow[1].mean())), error)


def align(reference, image, method: str = "translation") -> Registration:
    """Registration by ``method``: ``"none"``, ``"translation"`` or ``"optical_flow"``."""
    if method == "none":
        reference, image = np.asarray(reference), np.asarray(image)
        return Registration(reference, image, (0.0,) * reference.ndim, 0.0)
    if method == "translation":
        return register_translation(reference, image)
    if method == "optical_flow":
        return register_optical_flow(reference, image)
    raise ValueError(f"unknown registration method {method!r} (none, translation, optical_flow)")
