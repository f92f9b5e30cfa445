"""Classical restorations: interpolation, scikit-image denoisers and deconvolution.

Each baseline is ``fn(y, context, **params) -> image`` on one 2D numpy image in data units
([-1, 1]); ``context`` holds what the method may know (output shape, factor, PSF, noise std).
Hyperparameters are chosen on validation images from a small grid (:func:`tune`), by PSNR.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline
from skimage import restoration, transform

from flowem.metrics import psnr, reference_range


@dataclass(frozen=True)
class Context:
    """What a baseline knows about the degradation."""

    shape: tuple[int, int]  # (H, W) of the restored image
    factor: int = 1
    psf: np.ndarray | None = None
    noise_std: float = 0.0


def bicubic(y: np.ndarray, ctx: Context) -> np.ndarray:
    """Bicubic upsampling of block means (pixel ``j`` covers ``[j k, (j + 1) k)``), cropped."""
    full = (y.shape[0] * ctx.factor, y.shape[1] * ctx.factor)
    up = transform.resize(y, full, order=3, mode="edge", anti_aliasing=False)
    return up[: ctx.shape[0], : ctx.shape[1]]


def _along_rows(y: np.ndarray, ctx: Context, kind: str) -> np.ndarray:
    """Interpolate rows measured at ``0, k, 2k, ...`` onto every row (held constant past the
    last measured row)."""
    measured = np.arange(y.shape[0]) * ctx.factor
    rows = np.arange(ctx.shape[0])
    if kind == "linear" or len(measured) < 3:
        columns = [np.interp(rows, measured, y[:, j]) for j in range(y.shape[1])]
        return np.stack(columns, axis=1)
    out = CubicSpline(measured, y, axis=0)(np.minimum(rows, measured[-1]))
    return np.asarray(out)


def linear_z(y: np.ndarray, ctx: Context) -> np.ndarray:
    return _along_rows(y, ctx, "linear")


def cubic_z(y: np.ndarray, ctx: Context) -> np.ndarray:
    return _along_rows(y, ctx, "cubic")


def nl_means(y: np.ndarray, ctx: Context, h_factor: float) -> np.ndarray:
    sigma = ctx.noise_std
    return restoration.denoise_nl_means(
        y, h=h_factor * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True
    )


def tv(y: np.ndarray, ctx: Context, weight: float) -> np.ndarray:
    return restoration.denoise_tv_chambolle(y, weight=weight)


def wavelet(y: np.ndarray, ctx: Context, sigma_factor: float) -> np.ndarray:
    return restoration.denoise_wavelet(
        y, sigma=sigma_factor * ctx.noise_std, mode="soft", method="BayesShrink", rescale_sigma=True
    )


def wiener(y: np.ndarray, ctx: Context, balance: float) -> np.ndarray:
    """skimage's Wiener filter: circular convolution with the centred PSF (our blur model)."""
    return restoration.wiener(y, ctx.psf, balance=balance, clip=False)


def richardson_lucy(y: np.ndarray, ctx: Context, num_iter: int) -> np.ndarray:
    """Richardson-Lucy needs non-negative data: run it on ``(y + 1) / 2``, map back."""
    positive = np.clip((y + 1.0) / 2.0, 1e-6, None)
    out = restoration.richardson_lucy(positive, ctx.psf, num_iter=int(num_iter), clip=False)
    return 2.0 * out - 1.0


Baseline = Callable[..., np.ndarray]

#: task kind -> baseline name -> (function, hyperparameter grid)
BASELINES: dict[str, dict[str, tuple[Baseline, dict[str, list]]]] = {
    "denoise": {
        "nl_means": (nl_means, {"h_factor": [0.6, 0.8, 1.0, 1.3]}),
        "tv": (tv, {"weight": [0.05, 0.1, 0.2, 0.3]}),
    },
    "sr": {"bicubic": (bicubic, {})},
    "deblur": {
        "wiener": (wiener, {"balance": [0.003, 0.01, 0.03, 0.1]}),
        "richardson_lucy": (richardson_lucy, {"num_iter": [5, 10, 20, 40]}),
    },
    "axial": {"linear": (linear_z, {}), "cubic": (cubic_z, {})},
}

# skimage's wavelet denoiser needs the optional PyWavelets package.
if importlib.util.find_spec("pywt") is not None:
    BASELINES["denoise"]["wavelet"] = (wavelet, {"sigma_factor": [0.75, 1.0, 1.5]})


def task_kind(task: str) -> str:
    return "sr" if task.startswith("sr") else task


def grid_points(grid: dict[str, list]) -> list[dict[str, Any]]:
    names = sorted(grid)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def tune(
    fn: Baseline,
    grid: dict[str, list],
    measurements: list[np.ndarray],
    truths: list[np.ndarray],
    ctx: Context,
) -> tuple[dict[str, Any], float]:
    """The grid point with the best mean PSNR on the validation pairs, and that PSNR."""
    best: tuple[dict[str, Any], float] = ({}, -np.inf)
    for params in grid_points(grid):
        score = float(
            np.mean(
                [
                    psnr(x, fn(y, ctx, **params), reference_range(x))
                    for y, x in zip(measurements, truths, strict=True)
                ]
            )
        )
        if score > best[1]:
            best = (params, score)
    return best
