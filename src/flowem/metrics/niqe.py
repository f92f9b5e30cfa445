"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik, IEEE SPL 20,
2013), as in the authors' MATLAB release (``computequality.m``, ``estimatemodelparam.m``).

The image (grey levels on a 0..255 scale) is cut into 96 x 96 blocks. At two scales (full
and half resolution, MATLAB-style bicubic ``imresize`` with antialiasing) the MSCN
coefficients ``(I - mu) / (sigma + 1)`` (7 x 7 Gaussian window, sigma 7/6) give 18 features
per block: the GGD shape and variance of the coefficients, and for the products with the
four neighbours (right, down, and the two diagonals) the AGGD shape, mean and left/right
variances; 36 in all. NIQE is the Mahalanobis-like distance between the multivariate Gaussian
of the image's block features and that of a pristine model,
``sqrt((mu_p - mu_d)^T pinv((S_p + S_d) / 2) (mu_p - mu_d))``. Lower is better.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from scipy import ndimage
from scipy.special import gamma

from flowem.errors import InputFileError
from flowem.io import atomic_path

BLOCK = 96
#: blocks sharper than this fraction of the sharpest one build a pristine model
SHARPNESS_THRESHOLD = 0.75
_SHAPES = np.arange(0.2, 10.0005, 0.001)
_GGD_RATIO = gamma(1 / _SHAPES) * gamma(3 / _SHAPES) / gamma(2 / _SHAPES) ** 2
_AGGD_RATIO = gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))
_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))


@dataclass(frozen=True)
class NiqeModel:
    """Multivariate Gaussian of pristine block features: mean (36,), covariance (36, 36)."""

    mu: np.ndarray
    cov: np.ndarray
    source: str = ""


def _gaussian_window() -> np.ndarray:
    x = np.arange(7) - 3
    w = np.exp(-(x**2) / (2 * (7 / 6) ** 2))
    return w / w.sum()


def _imresize_half(img: np.ndarray) -> np.ndarray:
    """MATLAB ``imresize(img, 0.5)``: bicubic (a = -0.5) widened 2x for antialiasing."""
    d = np.array([3.5, 2.5, 1.5, 0.5, 0.5, 1.5, 2.5, 3.5]) / 2
    w = np.where(d <= 1, 1.5 * d**3 - 2.5 * d**2 + 1, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2)
    w /= w.sum()
    for axis in (0, 1):
        n_out = (img.shape[axis] + 1) // 2
        pad = [(0, 0), (0, 0)]
        pad[axis] = (4, 4)
        padded = np.pad(img, pad, mode="symmetric")
        img = sum(
            wt * np.take(padded, np.arange(1 + t, 1 + t + 2 * n_out, 2), axis=axis)
            for t, wt in enumerate(w)
        )
    return img


def _mscn(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients and the local standard deviation (replicated borders)."""
    window = _gaussian_window()

    def blur(x: np.ndarray) -> np.ndarray:
        x = ndimage.correlate1d(x, window, axis=0, mode="nearest")
        return ndimage.correlate1d(x, window, axis=1, mode="nearest")

    mu = blur(img)
    sigma = np.sqrt(np.abs(blur(img * img) - mu * mu))
    return (img - mu) / (sigma + 1), sigma


def _ggd(x: np.ndarray) -> tuple[float, float]:
    """Shape and variance of a zero-mean generalised Gaussian (moment matching)."""
    var = float(np.mean(x**2))
    rho = var / float(np.mean(np.abs(x))) ** 2
    return float(_SHAPES[np.argmin(np.abs(rho - _GGD_RATIO))]), var


def _aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    """Shape, mean and left/right variances of an asymmetric generalised Gaussian."""
    left = np.sqrt(np.mean(x[x < 0] ** 2)) if np.any(x < 0) else np.nan
    right = np.sqrt(np.mean(x[x > 0] ** 2)) if np.any(x > 0) else np.nan
    g = left / right
    r = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    r_norm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    if not np.isfinite(r_norm):
        return np.nan, np.nan, np.nan, np.nan
    alpha = float(_SHAPES[np.argmin((_AGGD_RATIO - r_norm) ** 2)])
    const = np.sqrt(gamma(1 / alpha)) / np.sqrt(gamma(3 / alpha))
    mean = (right - left) * (gamma(2 / alpha) / gamma(1 / alpha)) * const
    return alpha, float(mean), float(left**2), float(right**2)


def _block_features(mscn: np.ndarray) -> list[float]:
    feats = list(_ggd(mscn.ravel()))
    for shift in _NEIGHBOURS:  # circular shifts within the block, as MATLAB's circshift
        feats += _aggd((mscn * np.roll(mscn, shift, axis=(0, 1))).ravel())
    return feats


def _blocks(x: np.ndarray, size: int):
    for i in range(x.shape[0] // size):
        for j in range(x.shape[1] // size):
            yield x[i * size : (i + 1) * size, j * size : (j + 1) * size]


def block_features(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n_blocks, 36)`` features of a 0..255 image and each block's mean local sharpness."""
    img = np.asarray(img, dtype=np.float64)
    rows, cols = (s // BLOCK * BLOCK for s in img.shape)
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs at least one {BLOCK} x {BLOCK} block, got {img.shape}")
    img = img[:rows, :cols]
    per_scale, sharpness = [], None
    for scale in (1, 2):
        mscn, sigma = _mscn(img)
        per_scale.append([_block_features(b) for b in _blocks(mscn, BLOCK // scale)])
        if scale == 1:
            sharpness = np.array([b.mean() for b in _blocks(sigma, BLOCK)])
        img = _imresize_half(img)
    return np.hstack([np.asarray(f) for f in per_scale]), sharpness


def to_grey_levels(img, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Map ``value_range`` (default: 0..255 for uint8, else the image's min..max) to 0..255.

    NIQE's stabilising constant (``sigma + 1``) assumes grey levels; compare images on one
    fixed ``value_range`` when their own ranges differ.
    """
    img = np.asarray(img)
    if img.ndim != 2:
        raise ValueError(f"NIQE needs a 2D grey image, got shape {img.shape}")
    if value_range is None:
        value_range = (0.0, 255.0) if img.dtype == np.uint8 else (img.min(), img.max())
    lo, hi = map(float, value_range)
    if not hi > lo:
        raise ValueError(f"empty value range ({lo}, {hi}): a constant image has no NIQE")
    return (img.astype(np.float64) - lo) * (255.0 / (hi - lo))


def _gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = np.nanmean(features, axis=0)
    complete = features[np.all(np.isfinite(features), axis=1)]
    if len(complete) < 2:
        raise ValueError("fewer than two blocks with finite features")
    return mu, np.atleast_2d(np.cov(complete, rowvar=False))


def niqe(img, model: NiqeModel | None = None, value_range=None) -> float:
    """NIQE of one 2D image against ``model`` (default: the original natural-image model).

    Needs at least two 96 x 96 blocks (a covariance of the image's features).
    """
    model = natural_model() if model is None else model
    features, _ = block_features(to_grey_levels(img, value_range))
    mu, cov = _gaussian_fit(features)
    diff = model.mu - mu
    return float(np.sqrt(diff @ np.linalg.pinv((model.cov + cov) / 2) @ diff))


def fit_niqe_model(
    images, value_range=None, sharpness_threshold: float = SHARPNESS_THRESHOLD, source: str = ""
) -> NiqeModel:
    """A domain model from pristine images: the Gaussian of their sharpest blocks' features.

    Per image, blocks with mean local deviation above ``sharpness_threshold`` times the
    sharpest block's are kept (0 keeps every block), as in ``estimatemodelparam.m``.
    """
    kept = []
    for img in images:
        features, sharpness = block_features(to_grey_levels(img, value_range))
        kept.append(features[sharpness > sharpness_threshold * sharpness.max()])
    if not kept:
        raise ValueError("no images to fit a NIQE model on")
    mu, cov = _gaussian_fit(np.vstack(kept))
    return NiqeModel(mu, cov, source or f"fitted on {len(kept)} image(s)")


#: the mean and covariance arrays of each layout: the MATLAB release's, BasicSR's .npz
_LAYOUTS = (("mu_prisparam", "cov_prisparam"), ("mu_pris_param", "cov_pris_param"))


def read_niqe_model(path: str | Path) -> NiqeModel:
    """A model from a MATLAB file with ``mu_prisparam`` (1 x 36) and ``cov_prisparam``
    (36 x 36), as in the LIVE release, or a NumPy ``.npz`` with ``mu_pris_param`` and
    ``cov_pris_param``, as BasicSR ships it (the same numbers)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such NIQE model file")
    try:
        if path.suffix == ".npz":
            with np.load(path) as npz:
                data = {key: npz[key] for key in npz.files}
        else:
            data = scipy.io.loadmat(path)
        mu_key, cov_key = next(
            (keys for keys in _LAYOUTS if all(k in data for k in keys)),
            _LAYOUTS[path.suffix == ".npz"],
        )
        mu = np.asarray(data[mu_key], dtype=np.float64).ravel()
        cov = np.asarray(data[cov_key], dtype=np.float64)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise InputFileError(path, f"not a NIQE model file ({exc!r})") from exc
    if cov.shape != (mu.size, mu.size):
        raise InputFileError(path, f"covariance {cov.shape} does not match mean ({mu.size},)")
    return NiqeModel(mu, cov, str(path))


def write_niqe_model(path: str | Path, model: NiqeModel) -> Path:
    """Write ``model`` in the MATLAB layout :func:`read_niqe_model` reads, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            scipy.io.savemat(fh, {"mu_prisparam": model.mu[None, :], "cov_prisparam": model.cov})
    return path


@functools.cache
def natural_model() -> NiqeModel:
    """The original natural-image model, ``niqe/modelparameters.mat``, through the fetch mirror."""
    from flowem.fetch import fetch

    return read_niqe_model(fetch("niqe/modelparameters.mat"))
