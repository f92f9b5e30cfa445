"""Fourier ring / shell correlation (FRC in 2D, FSC in 3D) and the resolution it implies.

Rings (shells) are the Fourier samples of integer radius ``r = round(|k| * n)``, with ``k``
in cycles per pixel and ``n`` the smallest side, so ring ``r`` sits at the spatial frequency
``r / (n * pixel_size)`` and the last full ring is Nyquist, ``1 / (2 * pixel_size)``.
The correlation of ring ``r`` is ``Re sum F1 F2^* / sqrt(sum |F1|^2 sum |F2|^2)``.

The resolution is ``1 / f`` at the first crossing of the curve below a threshold, found by
linear interpolation between rings, in the unit of ``pixel_size`` (A -> A, nm -> nm).
Thresholds: 0.5, 1/7 (0.1429) and the half-bit curve of van Heel & Schatz (J. Struct. Biol.
151, 2005), ``T(r) = (0.2071 + 1.9102 / sqrt(n_r)) / (1.2071 + 0.9102 / sqrt(n_r))`` with
``n_r`` the number of Fourier samples in ring ``r``.
"""

from __future__ import annotations

import math

import numpy as np

HALF_BIT = "half-bit"
#: threshold name -> constant value (or the name of a curve)
THRESHOLDS: dict[str, float | str] = {"0.5": 0.5, "1/7": 1 / 7, HALF_BIT: HALF_BIT}


def _rings(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """Ring index and Hermitian weight of every ``rfftn`` sample, and the smallest side.

    ``rfftn`` keeps half of the last axis; samples with ``0 < k_last < n_last / 2`` stand for
    themselves and their conjugate twin, hence weight 2, so ring sums equal full-grid sums.
    """
    n = min(shape)
    axes = [np.fft.fftfreq(s) for s in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    radius = np.sqrt(sum(g**2 for g in grids))
    index = np.rint(radius * n).astype(np.int64)
    last = np.arange(axes[-1].size)
    twin = (last > 0) & (2 * last < shape[-1])
    weight = np.broadcast_to(np.where(twin, 2.0, 1.0), index.shape)
    return index, weight, n


def fourier_correlation(a, b, pixel_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlation per ring/shell of two equally shaped images or volumes.

    Returns ``(frequencies, curve, counts)``: frequencies in 1/unit of ``pixel_size`` for
    rings ``0 .. n // 2``, the correlation per ring, and the Fourier samples per ring.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"arrays differ in shape: {a.shape} and {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"expected a 2D image or a 3D volume, got {a.ndim} dimensions")
    if not pixel_size > 0:
        raise ValueError(f"pixel_size must be positive, got {pixel_size}")
    fa, fb = np.fft.rfftn(a), np.fft.rfftn(b)
    index, weight, n = _rings(a.shape)
    nrings = n // 2 + 1
    keep = index < nrings
    idx, w = index[keep], weight[keep]

    def ring_sum(values: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=w * values[keep], minlength=nrings)

    cross = ring_sum(np.real(fa * np.conj(fb)))
    power = ring_sum(np.abs(fa) ** 2) * ring_sum(np.abs(fb) ** 2)
    counts = np.bincount(idx, weights=w, minlength=nrings)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(power > 0, cross / np.sqrt(power), 0.0)
    frequencies = np.arange(nrings) / (n * pixel_size)
    return frequencies, curve, counts


def frc(a, b, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two 2D images: ``(frequencies [1/unit], curve)``."""
    if np.ndim(a) != 2:
        raise ValueError(f"FRC needs 2D images, got shape {np.shape(a)}")
    frequencies, curve, _ = fourier_correlation(a, b, pixel_size)
    return frequencies, curve


def fsc(a, b, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Fourier shell correlation of two 3D volumes: ``(frequencies [1/unit], curve)``."""
    if np.ndim(a) != 3:
        raise ValueError(f"FSC needs 3D volumes, got shape {np.shape(a)}")
    frequencies, curve, _ = fourier_correlation(a, b, voxel_size)
    return frequencies, curve


def threshold_curve(threshold: float | str, counts: np.ndarray) -> np.ndarray:
    """The threshold per ring: a constant, ``"0.5"``, ``"1/7"`` or ``"half-bit"``."""
    counts = np.asarray(counts, dtype=np.float64)
    value = THRESHOLDS.get(threshold, threshold) if isinstance(threshold, str) else threshold
    if isinstance(value, str) and value != HALF_BIT:
        try:
            value = float(value)
        except ValueError:
            raise ValueError(
                f"unknown threshold {threshold!r}; use a number or one of {list(THRESHOLDS)}"
            ) from None
    if value == HALF_BIT:
        root = np.sqrt(np.maximum(counts, 1.0))
        return (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)
    return np.full(counts.shape, float(value))


def crossing_frequency(frequencies, curve, threshold) -> float:
    """Frequency of the first crossing below ``threshold`` (array or scalar) after ring 0.

    Linear interpolation of ``curve - threshold`` between the rings that bracket the sign
    change (if the ring before is already below, e.g. a zero DC ring, the crossing is taken
    at the first ring below). NaN if the curve stays at or above the threshold throughout.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    excess = np.asarray(curve, dtype=np.float64) - np.broadcast_to(threshold, frequencies.shape)
    below = np.flatnonzero(excess[1:] < 0)
    if below.size == 0:
        return math.nan
    i = int(below[0]) + 1
    e0, e1 = excess[i - 1], excess[i]
    frac = e0 / (e0 - e1) if e0 > 0 else 1.0
    return float(frequencies[i - 1] + frac * (frequencies[i] - frequencies[i - 1]))


def _resolution_at(frequencies, curve, counts, threshold, pixel_size: float) -> float:
    f = crossing_frequency(frequencies, curve, threshold_curve(threshold, counts))
    if math.isnan(f):  # resolved up to Nyquist: report the Nyquist limit (a bound)
        return 2.0 * pixel_size
    return 1.0 / f


def _resolution(a, b, pixel_size: float, threshold) -> float:
    return _resolution_at(*fourier_correlation(a, b, pixel_size), threshold, pixel_size)


def frc_resolution(a, b, pixel_size: float, threshold: float | str = 0.5) -> float:
    """FRC resolution (unit of ``pixel_size``) at ``threshold`` (0.5, 1/7 or ``"half-bit"``).

    A curve that never drops below the threshold gives the Nyquist limit ``2 * pixel_size``.
    """
    if np.ndim(a) != 2:
        raise ValueError(f"FRC needs 2D images, got shape {np.shape(a)}")
    return _resolution(a, b, pixel_size, threshold)


def fsc_resolution(a, b, voxel_size: float, threshold: float | str = 0.5) -> float:
    """FSC resolution (unit of ``voxel_size``) at ``threshold`` (0.5, 1/7 or ``"half-bit"``)."""
    if np.ndim(a) != 3:
        raise ValueError(f"FSC needs 3D volumes, got shape {np.shape(a)}")
    return _resolution(a, b, voxel_size, threshold)


def resolutions(a, b, pixel_size: float) -> dict[str, float]:
    """FRC/FSC resolution at each standard threshold: ``{"0.5": r, "1/7": r, "half-bit": r}``."""
    correlation = fourier_correlation(a, b, pixel_size)
    return {name: _resolution_at(*correlation, name, pixel_size) for name in THRESHOLDS}


def curve_resolution(
    frequencies, curve, pixel_size: float, threshold: float | str = 0.5, counts=None
) -> float:
    """Resolution (unit of ``pixel_size``) where a given curve, e.g. the mean FRC of many
    image pairs, first drops below ``threshold``; Nyquist ``2 * pixel_size`` if it never does.
    The half-bit threshold needs the ring ``counts``."""
    if counts is None:
        if THRESHOLDS.get(threshold, threshold) == HALF_BIT:
            raise ValueError("the half-bit threshold needs the ring counts")
        counts = np.ones(np.shape(frequencies))
    return _resolution_at(frequencies, curve, counts, threshold, pixel_size)
