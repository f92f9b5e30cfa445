"""Full-reference fidelity: PSNR and SSIM per image (scikit-image), aggregated over a batch.

``data_range`` is always explicit: the metric of a restoration must not depend on the range
of the restoration itself (scikit-image would otherwise infer it from the dtype). The project
convention is the ground truth's range, ``ref.max() - ref.min()`` (:func:`reference_range`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from flowem.metrics.statistics import Summary, summarize


def _pair(ref, img) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(ref, dtype=np.float64)
    img = np.asarray(img, dtype=np.float64)
    if ref.shape != img.shape:
        raise ValueError(f"reference {ref.shape} and image {img.shape} differ in shape")
    return ref, img


def _check_range(data_range: float) -> float:
    data_range = float(data_range)
    if not np.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be a positive finite number, got {data_range}")
    return data_range


def reference_range(ref) -> float:
    """The ground truth's dynamic range ``max - min`` (the project's ``data_range``)."""
    ref = np.asarray(ref)
    return float(ref.max() - ref.min())


def psnr(ref, img, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / mean((ref - img)^2))``."""
    ref, img = _pair(ref, img)
    return float(peak_signal_noise_ratio(ref, img, data_range=_check_range(data_range)))


def ssim(ref, img, data_range: float, **kwargs) -> float:
    """Structural similarity of one 2D image (or volume), scikit-image's defaults (7 px window).

    ``kwargs`` go to :func:`skimage.metrics.structural_similarity` (e.g. ``gaussian_weights``).
    """
    ref, img = _pair(ref, img)
    if min(ref.shape) < 7 and "win_size" not in kwargs:
        raise ValueError(f"SSIM needs images of at least 7 px per side, got {ref.shape}")
    return float(structural_similarity(ref, img, data_range=_check_range(data_range), **kwargs))


def per_image(metric: Callable[..., float], refs, imgs, data_range, **kwargs) -> np.ndarray:
    """``metric(ref_i, img_i, data_range_i)`` for each image of two ``(N, ...)`` stacks.

    ``data_range`` is one number for all images, one number per image, or ``"reference"``
    for each reference's own range (:func:`reference_range`, the project convention).
    """
    refs, imgs = np.asarray(refs), np.asarray(imgs)
    if refs.shape != imgs.shape:
        raise ValueError(f"reference stack {refs.shape} and image stack {imgs.shape} differ")
    if isinstance(data_range, str):
        if data_range != "reference":
            raise ValueError(
                f"data_range must be a number, numbers or 'reference', got {data_range!r}"
            )
        ranges = [reference_range(r) for r in refs]
    else:
        ranges = np.broadcast_to(np.asarray(data_range, dtype=np.float64), (len(refs),))
    return np.array(
        [metric(r, i, dr, **kwargs) for r, i, dr in zip(refs, imgs, ranges, strict=True)]
    )


def batch_psnr(refs, imgs, data_range, confidence: float = 0.95) -> Summary:
    """Per-image PSNR (dB) of a stack, summarised (mean, std, CI of the mean)."""
    return summarize(per_image(psnr, refs, imgs, data_range), confidence)


def batch_ssim(refs, imgs, data_range, confidence: float = 0.95, **kwargs) -> Summary:
    """Per-image SSIM of a stack, summarised (mean, std, CI of the mean)."""
    return summarize(per_image(ssim, refs, imgs, data_range, **kwargs), confidence)
