"""Parameter-free image resolution by decorrelation analysis (Descloux, Grussmacher &
Radenovic, Nat. Methods 16, 918-924, 2019), following their reference code (ImDecorr).

Steps: the image (mean removed, edges apodised, cropped to odd sides) is Fourier
transformed, ``I(k)``; its phase-only spectrum ``In = I / |I|`` is masked by discs of
normalised radius ``r`` (``r = 1`` is Nyquist); the decorrelation function is
``d(r) = sum Re(I In_r^*) / (||I|| ||In_r||)``. Its local maximum ``(r0, A0)`` marks where
signal gives way to noise. The analysis is repeated on Gaussian high-pass filtered spectra
``I (1 - exp(-2 g^2 r^2))`` over a geometric series of ``g`` (refined once around the best
ones); the highest peak position with amplitude >= 0.05 is ``kc``. Departures from the
reference code: the mean is removed before the transform (so the DC term does not dominate
``d0``), and ``r`` is exact, ``2 |k|`` with ``k`` in cycles per pixel. Resolution, in the unit of
``pixel_size``: ``2 * pixel_size / kc`` (i.e. ``1 / f_c`` with ``f_c = kc / (2 pixel_size)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_RADII = 50
N_HIGHPASS = 10
#: peak significance above the later minimum (the reference code's ``dt``)
PEAK_MARGIN = 1e-3
#: peaks with amplitude below this are noise (the reference code's 0.05)
MIN_AMPLITUDE = 0.05
APODISATION_PX = 20


@dataclass(frozen=True)
class Decorrelation:
    """Resolution (unit of the pixel size; NaN if no peak), cut-off ``kc`` (normalised,
    1 = Nyquist), its peak amplitude, and the unfiltered ``d(r)`` at ``radii``."""

    resolution: float
    kc: float
    amplitude: float
    radii: np.ndarray
    curve: np.ndarray


def _apodise(img: np.ndarray, width: int) -> np.ndarray:
    """Remove the mean, then taper the outer ``width`` pixels with a cosine edge."""
    img = img - img.mean()
    for axis, n in enumerate(img.shape):
        w = min(width, n // 4)
        if w < 1:
            continue
        ramp = np.ones(n)
        edge = 0.5 * (1 - np.cos(np.pi * (np.arange(w) + 0.5) / w))
        ramp[:w], ramp[n - w :] = edge, edge[::-1]
        shape = [1] * img.ndim
        shape[axis] = n
        img = img * ramp.reshape(shape)
    return img


class _Spectrum:
    """The spectrum sorted by normalised radius, so masked sums become cumulative sums."""

    def __init__(self, img: np.ndarray) -> None:
        freqs = np.meshgrid(*[np.fft.fftfreq(n) for n in img.shape], indexing="ij", sparse=True)
        radius = 2.0 * np.sqrt(sum(f**2 for f in freqs))  # 1 = Nyquist
        inside = radius < 1.0
        order = np.argsort(radius[inside], kind="stable")
        self.radius = radius[inside][order]
        self.r2 = self.radius**2
        spectrum = np.fft.fftn(img)[inside][order]
        magnitude = np.abs(spectrum)
        self.spectrum = spectrum
        self.phase = np.divide(
            spectrum, magnitude, out=np.zeros_like(spectrum), where=magnitude > 0
        )
        self.count = np.cumsum(magnitude > 0)

    def curve(self, radii: np.ndarray, g: float | None) -> np.ndarray:
        """``d(r)`` at ``radii`` for the spectrum high-pass filtered with ``g`` (None: none)."""
        spectrum = (
            self.spectrum if g is None else self.spectrum * (1 - np.exp(-2 * g * g * self.r2))
        )
        norm = math.sqrt(float(np.sum(np.abs(spectrum) ** 2)))
        if norm == 0:
            return np.zeros(radii.shape)
        cross = np.cumsum(np.real(spectrum * np.conj(self.phase)))
        n = np.searchsorted(self.radius, radii, side="left")  # samples with radius < r
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(
                n > 0, cross[np.maximum(n - 1, 0)] / (norm * np.sqrt(self.count[n - 1])), 0
            )
        return np.nan_to_num(d)


def _peak(d: np.ndarray) -> tuple[int, float]:
    """Index and height of the significant local maximum of ``d`` (reference ``getDcorrMax``).

    A maximum at the last radius is no peak: drop it and look again, accepting a maximum
    only if the curve falls by more than ``PEAK_MARGIN`` after it. ``(0, 0.0)`` if none.
    """
    index = int(np.argmax(d))
    t = d.copy()
    while index == t.size - 1:
        t = t[:-1]
        if t.size == 0:
            return 0, 0.0
        index = int(np.argmax(t))
        if t[index] - d[index:].min() > PEAK_MARGIN:
            break
        t[index] = d[index:].min()
        index = t.size - 1
    return index, float(t[index])


def _scan(spec: _Spectrum, radii: np.ndarray, gs, curves: list) -> list[tuple[float, float]]:
    """Peak ``(kc, amplitude)`` for each high-pass width in ``gs``."""
    peaks = []
    for g in gs:
        d = spec.curve(radii, g)
        curves.append(d)
        index, amplitude = _peak(d)
        peaks.append((float(radii[index]), amplitude))
    return peaks


def decorrelation_analysis(img, pixel_size: float = 1.0) -> Decorrelation:
    """Decorrelation analysis of one 2D image (see the module docstring)."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"decorrelation analysis needs a 2D image, got shape {img.shape}")
    if not pixel_size > 0:
        raise ValueError(f"pixel_size must be positive, got {pixel_size}")
    img = img[: img.shape[0] - 1 + img.shape[0] % 2, : img.shape[1] - 1 + img.shape[1] % 2]
    spec = _Spectrum(_apodise(img, APODISATION_PX))
    radii = np.linspace(0.0, 1.0, N_RADII)
    curves: list[np.ndarray] = []
    ((k0, a0),) = _scan(spec, radii, [None], curves)
    g_max = 2.0 / k0 if k0 > 0 else max(img.shape) / 2
    gs = [img.shape[0] / 4, *np.exp(np.linspace(math.log(g_max), math.log(0.15), N_HIGHPASS))]
    peaks = _scan(spec, radii, gs, curves)

    # refine once (as the reference code): a finer g series spanning the filters with the
    # highest kc and the highest geometric mean sqrt(kc * A), finer radii around the best kc
    kcs = np.array([k0, *(k for k, _ in peaks)])  # kcs[i] belongs to gs[i - 1]
    amplitudes = np.array([a0, *(a for _, a in peaks)])
    i_max = int(np.argmax(kcs))
    i1, i2 = sorted((int(np.argmax(np.sqrt(kcs * amplitudes))), i_max))
    if i1 == 0:
        i2 = 0
    # kcs has one entry more than gs: keep both ends of the refined span inside gs
    i1 = min(i1, len(gs) - 1)
    i2 = min(i2, len(gs) - 2)
    gs_fine = np.exp(np.linspace(math.log(gs[i1]), math.log(gs[i2 + 1]), N_HIGHPASS + 2))[1:-1]
    radii_fine = np.linspace(max(kcs[i_max] - 0.05, 0.0), min(kcs[i_max] + 0.3, 1.0), N_RADII)
    peaks += _scan(spec, radii_fine, gs_fine, curves)
    peaks.append((k0, a0))

    significant = [(k, a) for k, a in peaks if a >= MIN_AMPLITUDE and k > 0]
    if not significant:
        return Decorrelation(math.nan, 0.0, 0.0, radii, curves[0])
    kc, amplitude = max(significant, key=lambda p: p[0])
    return Decorrelation(2.0 * pixel_size / kc, kc, amplitude, radii, curves[0])


def decorrelation_resolution(img, pixel_size: float) -> float:
    """Resolution ``2 * pixel_size / kc`` (unit of ``pixel_size``); NaN if no peak is found."""
    return decorrelation_analysis(img, pixel_size).resolution
