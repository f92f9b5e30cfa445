"""Scores and figures of restored images: PSNR, SSIM and FRC resolution against ground truth,
NIQE and decorrelation resolution without.

Images are 2D numpy arrays in data units; every result is clipped to the data range [-1, 1]
first (all methods alike). ``data_range`` is the ground truth's range (project convention).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from flowem.io import atomic_path
from flowem.metrics import (
    NiqeModel,
    decorrelation_resolution,
    frc_resolution,
    natural_model,
    niqe,
    psnr,
    reference_range,
    ssim,
)
from flowem.metrics.niqe import BLOCK

METRICS = ("psnr", "ssim", "frc_nm")
DATA_RANGE = (-1.0, 1.0)  # NIQE grey levels: every image on the data range, clipped


def image_scores(truth: np.ndarray, image: np.ndarray, pixel_nm: float) -> dict[str, float]:
    """PSNR (dB), SSIM and FRC resolution at the 0.5 threshold (nm) of one image."""
    image = np.clip(image, -1.0, 1.0)
    data_range = reference_range(truth)
    return {
        "psnr": psnr(truth, image, data_range),
        "ssim": ssim(truth, image, data_range),
        "frc_nm": frc_resolution(truth, image, pixel_nm, threshold=0.5),
    }


def mean_scores(truths, images, pixel_nm: float) -> dict[str, float]:
    """Per-image scores averaged over the test images."""
    scores = [image_scores(t, i, pixel_nm) for t, i in zip(truths, images, strict=True)]
    return {name: float(np.mean([s[name] for s in scores])) for name in METRICS}


def mean_psnr(truths, images) -> float:
    """Mean PSNR (dB) over the images (clipped to the data range, as :func:`image_scores`)."""
    values = [
        psnr(t, np.clip(i, -1.0, 1.0), reference_range(t))
        for t, i in zip(truths, images, strict=True)
    ]
    return float(np.mean(values))


def mosaic(images: np.ndarray) -> np.ndarray:
    """Images (N, h, w) side by side in rows of up to three (missing tiles: mid-grey 0)."""
    cols = min(3, len(images))
    rows = -(-len(images) // cols)
    tiles = list(images) + [np.zeros_like(images[0])] * (rows * cols - len(images))
    return np.block([tiles[r * cols : (r + 1) * cols] for r in range(rows)])


def no_reference_scores(
    images, pixel_nm: float, em_model: NiqeModel | None, natural: NiqeModel | None = None
) -> dict:
    """Scores without ground truth: decorrelation resolution (nm, mean over images) and NIQE
    with the natural-image model (``natural``, default: the registry's, fetched) and the
    EM-fitted model (``niqe``, ``niqe_em``; lower is better). NIQE needs two 96 px blocks:
    small crops are scored as one mosaic (rows of three, the block statistics then straddle
    crop borders alike for every method); left out if even the mosaic is too small."""
    images = np.clip(np.asarray(images, dtype=np.float64), *DATA_RANGE)
    decorrelation = [decorrelation_resolution(img, pixel_nm) for img in images]
    found = [d for d in decorrelation if np.isfinite(d)]
    out = {"decorrelation_nm": float(np.mean(found)) if found else None}
    whole = images[0] if min(images.shape[-2:]) >= BLOCK and len(images) == 1 else mosaic(images)
    if (whole.shape[0] // BLOCK) * (whole.shape[1] // BLOCK) >= 2:
        out["niqe"] = niqe(whole, natural or natural_model(), DATA_RANGE)
        if em_model is not None:
            out["niqe_em"] = niqe(whole, em_model, DATA_RANGE)
    return out


def display_measurement(y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A measurement shown on the image grid: nearest-neighbour enlargement, cropped."""
    ky, kx = -(-shape[0] // y.shape[0]), -(-shape[1] // y.shape[1])
    return np.repeat(np.repeat(y, ky, axis=0), kx, axis=1)[: shape[0], : shape[1]]


def plot_panels(path: str | Path, panels: dict[str, np.ndarray], title: str = "") -> Path:
    """One row of grey images (shared [-1, 1] scale), written atomically as PNG."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3), squeeze=False)
    for ax, (name, image) in zip(axes[0], panels.items(), strict=True):
        ax.imshow(np.clip(image, -1, 1), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)
