"""Figures of the SIP experiments (matplotlib, Agg backend), written atomically as PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from flowem.io import atomic_path

COLOURS = {"initial": "tab:gray", "estimated": "tab:blue", "true": "tab:orange"}


def _save(fig: plt.Figure, path: str | Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)


def densities_1d(
    path: str | Path,
    params: dict[str, np.ndarray],
    data: dict[str, np.ndarray],
    true_pdf: tuple[np.ndarray, np.ndarray],
    title: str,
) -> Path:
    """Parameter (left) and data (right) densities: initial / estimated / true histograms."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, sets, space in ((axes[0], params, "parameter theta"), (axes[1], data, "data y")):
        for name, values in sets.items():
            ax.hist(
                values,
                bins=120,
                density=True,
                histtype="step",
                lw=1.4,
                label=name,
                color=COLOURS.get(name.split()[0]),
            )
        ax.set_xlabel(space)
        ax.set_ylabel("density")
    axes[0].plot(*true_pdf, "k--", lw=1, label="true density")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def sweep(path: str | Path, rows: list[dict]) -> Path:
    """Iterations and seconds to reach the W1 target against sigma, one line per loss."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for loss in sorted({r["loss"] for r in rows}):
        sel = [r for r in rows if r["loss"] == loss]
        sig = [r["sigma"] for r in sel]
        for ax, key in zip(axes, ("iterations", "seconds"), strict=True):
            ax.plot(sig, [np.nan if r[key] is None else r[key] for r in sel], "o-", label=loss)
    for ax, key in zip(axes, ("iterations to W1 < target", "seconds to W1 < target"), strict=True):
        ax.set_xlabel("noise sigma")
        ax.set_ylabel(key)
        ax.legend(fontsize=8)
    return _save(fig, path)


def parameter_scatter(
    path: str | Path, sets: dict[str, np.ndarray], baseline: np.ndarray | None = None
) -> Path:
    """One 2D panel per parameter set (initial / estimated / true), baseline states overlaid."""
    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 3.8), sharex=True, sharey=True)
    for ax, (name, values) in zip(np.atleast_1d(axes), sets.items(), strict=True):
        ax.hist2d(values[:, 0], values[:, 1], bins=40, cmap="viridis")
        if baseline is not None and name == "estimated":
            ax.plot(baseline[:, 0], baseline[:, 1], "r+", ms=10, label="baseline states")
            ax.legend(fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("theta_1")
        ax.set_ylabel("theta_2")
    return _save(fig, path)


def mode_marginals(
    path: str | Path,
    sets: dict[str, np.ndarray],
    names: list[str],
    baseline: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Per-parameter marginal histograms of each set; baseline states as weighted spikes."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.3))
    for i, ax in enumerate(np.atleast_1d(axes)):
        for name, values in sets.items():
            ax.hist(
                values[:, i],
                bins=50,
                density=True,
                histtype="step",
                lw=1.4,
                label=name,
                color=COLOURS.get(name),
            )
        if baseline is not None:
            states, weights = baseline
            ax2 = ax.twinx()
            ax2.vlines(states[:, i], 0, weights, color="r", lw=2, label="baseline")
            ax2.set_ylabel("baseline weight")
            ax2.set_ylim(0, 1)
        ax.set_xlabel(f"{names[i]} (A)")
        ax.set_ylabel("density")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    return _save(fig, path)


def image_pca(path: str | Path, images: dict[str, np.ndarray], title: str) -> Path:
    """First two principal components of the pooled image sets (PCA fitted on all of them)."""
    pooled = np.concatenate([v.reshape(v.shape[0], -1) for v in images.values()])
    mean = pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for name, values in images.items():
        pcs = (values.reshape(values.shape[0], -1) - mean) @ vt[:2].T
        ax.scatter(pcs[:, 0], pcs[:, 1], s=5, alpha=0.5, label=name, color=COLOURS.get(name))
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def method_marginals(
    path: str | Path, draws: dict[str, np.ndarray], true: np.ndarray, names: list[str]
) -> Path:
    """Per-parameter marginals of every method's recovered law beside the true law's draws
    (one panel per parameter, one line per method; shared bins per panel)."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.4))
    for i, ax in enumerate(np.atleast_1d(axes)):
        pooled = np.concatenate([true[:, i], *(v[:, i] for v in draws.values())])
        low, high = np.quantile(pooled, [0.005, 0.995])
        bins = np.linspace(low, high, 41)
        ax.hist(true[:, i], bins=bins, density=True, color="0.85", label="true")
        for method, values in draws.items():
            ax.hist(values[:, i], bins=bins, density=True, histtype="step", lw=1.3, label=method)
        ax.set_xlabel(names[i])
        ax.set_ylabel("density")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle("recovered marginals per method (same observed images)")
    return _save(fig, path)
