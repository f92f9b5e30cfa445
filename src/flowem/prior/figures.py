"""Figures of the prior stage: loss curve and a montage of samples beside held-out images."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from flowem.io import atomic_path


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_loss_curve(path: str | Path, log: pd.DataFrame) -> Path:
    """Training loss (per logging interval) and EMA validation loss against the step."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(log["step"], log["train_loss"], lw=1, label="train (mean over interval)")
    val = log.dropna(subset=["val_loss"])
    if len(val):
        ax.plot(val["step"], val["val_loss"], "o-", ms=3, label="validation (EMA weights)")
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_montage(
    path: str | Path, samples: np.ndarray, heldout: np.ndarray, count: int, unit: str = ""
) -> Path:
    """Two rows: generated samples above held-out images, on one shared grey scale."""
    count = min(count, len(samples), len(heldout))
    shown = np.concatenate([samples[:count], heldout[:count]])
    lo, hi = np.percentile(shown, [0.5, 99.5])
    fig, axes = plt.subplots(2, count, figsize=(1.6 * count, 3.6), squeeze=False)
    for row, (images, label) in enumerate([(samples, "generated"), (heldout, "held-out")]):
        for col in range(count):
            ax = axes[row, col]
            im = ax.imshow(images[col], cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label)
    fig.colorbar(im, ax=axes, shrink=0.8, label=unit)
    return _save(fig, path)
