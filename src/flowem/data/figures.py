"""Labelled image montages (matplotlib, Agg backend) for phase maps and measurements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from flowem.io import atomic_path


def montage(
    images: np.ndarray,
    path: str | Path,
    *,
    title: str,
    labels: Sequence[str] | None = None,
    colorbar_label: str = "",
    ncols: int = 8,
    cmap: str = "gray",
) -> Path:
    """Save a grid of ``images`` (N, H, W) with one shared colour scale, atomically (PNG/PDF)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"montage needs a non-empty (N, H, W) stack, got {images.shape}")
    count = len(images)
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    vmin, vmax = np.percentile(images, [0.5, 99.5])
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(1.6 * ncols + 1.0, 1.7 * nrows + 0.6), squeeze=False
    )
    shown = None
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < count:
            shown = ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if labels is not None:
                ax.set_title(labels[i], fontsize=7)
    fig.suptitle(title, fontsize=10)
    if shown is not None:
        fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=colorbar_label)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def counts_montage(
    path: str | Path, counts: np.ndarray, defocus_a: Sequence[float], title: str, label: str = ""
) -> Path:
    """The first 8 count images in 4 columns, each labelled ``{label}{i}: df {defocus} um``."""
    k = min(8, len(counts))
    labels = [f"{label}{i}: df {defocus_a[i] / 1e4:.2f} um" for i in range(k)]
    return montage(counts[:k], path, title=title, labels=labels, colorbar_label="counts", ncols=4)
