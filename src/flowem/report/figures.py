"""Matplotlib figures shared by the stages: resolution curves and per-image metric spreads.

Every figure has labelled axes with units and is written atomically (:func:`save_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from flowem.io import atomic_path
from flowem.metrics.fourier_shells import threshold_curve

DPI = 120


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Save ``fig`` (format from the suffix) atomically, then close it."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_frc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    unit: str = "Å",
    counts: np.ndarray | None = None,
    thresholds=("0.5", "1/7"),
    title: str = "Fourier ring correlation",
) -> plt.Figure:
    """FRC/FSC curves ``{label: (frequencies [1/unit], curve)}`` with threshold lines.

    The half-bit curve needs the samples per ring, ``counts`` (from
    :func:`flowem.metrics.fourier_correlation`). A top axis shows the resolution, 1/f.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    f_max = 0.0
    for label, (freq, curve) in curves.items():
        ax.plot(freq, curve, lw=1.5, label=label)
        f_max = max(f_max, float(np.max(freq)))
    for name, style in zip(thresholds, ("--", ":", "-.", (0, (5, 1, 1, 1))), strict=False):
        if name == "half-bit" and counts is None:
            continue
        freq = next(iter(curves.values()))[0]
        level = threshold_curve(name, np.ones_like(freq) if counts is None else counts)
        ax.plot(freq, level, ls=style, lw=1, color="0.35", label=f"threshold {name}")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set_xlim(0, f_max)
    ax.set_ylim(-0.2, 1.05)
    ax.set_xlabel(f"spatial frequency (1/{unit})")
    ax.set_ylabel("correlation")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ticks = [t for t in ax.get_xticks() if 0 < t <= f_max]
    top = ax.twiny()  # the same frequencies, labelled as resolution 1/f
    top.set_xlim(ax.get_xlim())
    top.set_xticks(ticks, [f"{1 / t:.3g}" for t in ticks])
    top.set_xlabel(f"resolution ({unit})")
    return fig


def plot_metric_spread(
    values: Mapping[str, np.ndarray], metric: str, unit: str = "", title: str = ""
) -> plt.Figure:
    """Per-image values of one metric for several methods: box plot plus every point."""
    fig, ax = plt.subplots(figsize=(1.4 * len(values) + 2.0, 3.8))
    labels = list(values)
    data = [np.asarray(values[k], dtype=float).ravel() for k in labels]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20)
    rng = np.random.default_rng(0)  # jitter only; fixed for reproducible figures
    for i, d in enumerate(data, start=1):
        ax.plot(i + rng.uniform(-0.15, 0.15, d.size), d, ".", ms=3, alpha=0.5, color="C0")
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    ax.set_title(title or f"{metric} per image")
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_decorrelation(
    radii: np.ndarray, curve: np.ndarray, kc: float, pixel_size: float, unit: str = "nm"
) -> plt.Figure:
    """Decorrelation function ``d(r)`` against spatial frequency, with the cut-off ``kc``."""
    freq = np.asarray(radii) / (2.0 * pixel_size)
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    ax.plot(freq, curve, lw=1.5, label="d(r), no high-pass")
    if kc > 0:
        f_c = kc / (2.0 * pixel_size)
        ax.axvline(f_c, color="C3", ls="--", label=f"cut-off: {1 / f_c:.3g} {unit}")
    ax.set_xlabel(f"spatial frequency (1/{unit})")
    ax.set_ylabel("decorrelation d(r)")
    ax.set_xlim(0, freq.max())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_panels(panels, title: str = "") -> plt.Figure:
    """Panels of a finding (:class:`flowem.report.findings.Panel`): bars with 95% interval
    whiskers for method comparisons, curves with shaded intervals, target lines dashed."""
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        y = np.asarray(panel.y, dtype=float)
        low = None if panel.low is None else np.asarray(panel.low, dtype=float)
        high = None if panel.high is None else np.asarray(panel.high, dtype=float)
        if panel.kind == "line":
            x = np.asarray(panel.x, dtype=float)
            ax.plot(x, y, marker="o", color="C0")
            if low is not None and high is not None:
                ax.fill_between(x, low, high, alpha=0.25, color="C0", label="95% interval")
            if panel.diagonal:
                ax.plot([0, 1], [0, 1], ls="--", color="0.4", lw=1, label="calibrated")
                ax.legend(fontsize=7)
            ax.set_xlabel(panel.xlabel)
        else:
            x = np.arange(len(y))
            colors = ["C3" if name == panel.highlight else "C0" for name in panel.x]
            ax.bar(x, y, color=colors, alpha=0.85)
            if low is not None and high is not None:
                ok = np.isfinite(low) & np.isfinite(high)
                err = np.abs(np.vstack([y - low, high - y]))[:, ok]
                ax.errorbar(x[ok], y[ok], yerr=err, fmt="none", ecolor="k", capsize=3, lw=1)
            ax.set_xticks(x, [str(n) for n in panel.x], rotation=30, ha="right", fontsize=8)
            finite = y[np.isfinite(y)]
            zoom = panel.reference is None and finite.size > 1 and "resolution" not in panel.ylabel
            if zoom and finite.min() > 0:  # differences of a few dB on a 20-30 dB scale
                top = np.nanmax(high) if high is not None and np.isfinite(high).any() else 0
                span = max(finite.max(), top) - finite.min()
                ax.set_ylim(max(0.0, finite.min() - 0.6 * span - 1e-9), None)
        if panel.reference is not None and np.isfinite(panel.reference):
            ax.axhline(panel.reference, ls="--", color="C2", lw=1)
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_rule_times(rules: Mapping[str, float], top: int = 25) -> plt.Figure:
    """Run time per rule (seconds, summed over its jobs) as horizontal bars, longest first."""
    items = sorted(rules.items(), key=lambda kv: -kv[1])[:top]
    fig, ax = plt.subplots(figsize=(7.0, 0.28 * len(items) + 1.0))
    names = [k for k, _ in items][::-1]
    seconds = np.array([v for _, v in items][::-1]) / 60.0
    ax.barh(names, seconds, color="C0")
    ax.set_xlabel("run time (min, summed over the rule's jobs)")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
