"""Figures of the FlowDPS stage (matplotlib, written atomically)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from flowem.report.figures import save_figure

ROW_ORDER = ("iterative", "flowdps")


def plot_reconstructions(path, counts, aligned: dict, truth, std=None, count: int = 6) -> Path:
    """The paper's Fig. 1 layout: raw measurement / iterative baseline / FlowDPS, then the
    ground truth and the posterior std (when known), one column per particle."""
    count = min(count, len(counts))
    rows = [("measurement (counts)", counts)]
    rows += [(f"{name} (rad)", aligned[name]) for name in ROW_ORDER if name in aligned]
    rows += [(f"{n} (rad)", a) for n, a in aligned.items() if n not in ROW_ORDER]
    if truth is not None:
        rows.append(("ground truth (rad)", truth))
    if std is not None:
        rows.append(("posterior std (rad)", std))
    fig, axes = plt.subplots(
        len(rows), count, figsize=(1.6 * count + 1.2, 1.6 * len(rows)), squeeze=False
    )
    for r, (label, images) in enumerate(rows):
        for c in range(count):
            ax = axes[r, c]
            if label.startswith(("measurement", "posterior")) or truth is None:
                lo, hi = np.percentile(images[c], [1, 99])
            else:
                lo, hi = float(truth[c].min()), float(truth[c].max())
            ax.imshow(images[c], cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
            if r == 0:
                ax.set_title(f"particle {c}", fontsize=8)
    fig.suptitle("Single-shot phase retrieval (phase shown on the ground truth's grey scale)")
    return save_figure(fig, path)


def plot_frc_curves(path, curves: dict) -> Path:
    """Mean FRC between reconstruction and ground truth per method, with 0.5 and 1/7 lines."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, items in curves.items():
        freqs = items[0][0]
        mean = np.nanmean(np.stack([curve for _, curve in items]), axis=0)
        ax.plot(freqs, mean, label=name)
    for level, style in ((0.5, "--"), (1 / 7, ":")):
        ax.axhline(level, color="grey", linestyle=style, linewidth=0.8)
    ax.set_xlabel("spatial frequency (1/A)")
    ax.set_ylabel("FRC with ground truth")
    ax.set_ylim(-0.2, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("Fourier ring correlation (mean over test particles)")
    return save_figure(fig, path)


def plot_comparison(path, paired: dict) -> Path:
    """FlowDPS against each baseline: per metric the per-particle win rate with its Wilson
    95% interval (the dashed line at 0.5 is a tie; a lower bound above it is a clear win)."""
    names = list(paired)
    metrics = list(next(iter(paired.values())))
    fig, ax = plt.subplots(figsize=(1.3 * len(metrics) * max(len(names), 1) / 2 + 3, 3.6))
    width = 0.8 / len(names)
    x = np.arange(len(metrics))
    for j, name in enumerate(names):
        rows = [paired[name][m] for m in metrics]
        rate = np.array([r["win_rate"] for r in rows])
        err = np.array(
            [
                [r - row["wilson_low"], row["wilson_high"] - r]
                for r, row in zip(rate, rows, strict=True)
            ]
        )
        ax.bar(
            x + (j - (len(names) - 1) / 2) * width, rate, width, yerr=err.T, capsize=3, label=name
        )
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1)
    ax.set_ylabel("FlowDPS win rate (Wilson 95%)")
    ax.legend(title="against", fontsize=8)
    ax.set_title("Per-particle win rate of FlowDPS over each baseline")
    return save_figure(fig, path)


def plot_reliability(path, coverage: dict) -> Path:
    """Reliability of the FlowDPS posterior: the empirical coverage of the pixel-wise
    predictive intervals against their nominal level (95% interval over particles), with the
    diagonal of perfect calibration (below it: over-confident, above: under-confident)."""
    rows = coverage["levels"]
    nominal = np.array([r["nominal"] for r in rows])
    empirical = np.array([r["empirical"] for r in rows])
    low = np.array([r["ci_low"] for r in rows], dtype=float)
    high = np.array([r["ci_high"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="calibrated")
    err = np.nan_to_num(np.stack([empirical - low, high - empirical]))
    ax.errorbar(nominal, empirical, yerr=err, marker="o", capsize=3, label="FlowDPS")
    ax.set_xlim(0.4, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("nominal coverage of the pixel-wise interval")
    ax.set_ylabel("fraction of pixels covering the truth")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Posterior calibration ({coverage['samples']} samples, Student-t)", fontsize=9)
    return save_figure(fig, path)
