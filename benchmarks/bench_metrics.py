"""Metrics: cost per 512 x 512 image against plain numpy references, same run.

- ``frc_ratio``: :func:`flowem.metrics.frc` (half-spectrum ring sums) over the textbook FRC
  (two full ``np.fft.fft2`` and ring sums with ``np.bincount`` on the full grid); < 1 is faster.
- ``decorrelation_curve_ratio``: one decorrelation curve d(r) at 50 radii from the sorted
  cumulative sums over the reference code's way (one disc mask and sum per radius).
- ``niqe_fft_units`` / ``decorrelation_fft_units``: a whole NIQE score / decorrelation
  analysis in units of one ``np.fft.fft2`` of the image (machine-independent cost).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, parse_out, report
from flowem.metrics import decorrelation_analysis, fit_niqe_model, frc, niqe
from flowem.metrics.decorrelation import _Spectrum

N = 512


def textbook_frc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    k = np.fft.fftfreq(a.shape[0])
    ring = np.rint(np.hypot(*np.meshgrid(k, k, indexing="ij")) * a.shape[0]).astype(int).ravel()
    cross = np.bincount(ring, np.real(fa * np.conj(fb)).ravel())
    pa = np.bincount(ring, (np.abs(fa) ** 2).ravel())
    pb = np.bincount(ring, (np.abs(fb) ** 2).ravel())
    return (cross / np.sqrt(pa * pb))[: a.shape[0] // 2 + 1]


def masked_decorrelation_curve(img: np.ndarray, radii: np.ndarray) -> np.ndarray:
    spectrum = np.fft.fftshift(np.fft.fft2(img))
    k = np.fft.fftshift(np.fft.fftfreq(img.shape[0]))
    r = 2 * np.hypot(*np.meshgrid(k, k, indexing="ij"))
    spectrum = spectrum * (r < 1)
    phase = np.divide(spectrum, np.abs(spectrum), out=np.zeros_like(spectrum), where=r < 1)
    norm = np.sqrt(np.sum(np.abs(spectrum) ** 2))
    out = []
    for radius in radii:
        masked = phase * (r < radius)
        denominator = norm * np.sqrt(np.sum(np.abs(masked) ** 2))
        out.append(np.sum(np.real(spectrum * np.conj(masked))) / denominator if radius else 0.0)
    return np.array(out)


def main() -> None:
    out = parse_out("results/bench/metrics.json")
    rng = np.random.default_rng(0)
    signal = np.cumsum(np.cumsum(rng.normal(size=(N, N)), 0), 1)
    a = signal + 20 * rng.normal(size=(N, N))
    b = signal + 20 * rng.normal(size=(N, N))
    grey = 255 * (a - a.min()) / np.ptp(a)

    assert np.allclose(frc(a, b, 1.0)[1], textbook_frc(a, b))
    fft_s = best_of(lambda: np.fft.fft2(a), repeats=5)
    frc_s = best_of(lambda: frc(a, b, 1.0))
    textbook_s = best_of(lambda: textbook_frc(a, b))

    odd = a[: N - 1, : N - 1]
    radii = np.linspace(0, 1, 50)
    spec = _Spectrum(odd - odd.mean())
    assert np.allclose(spec.curve(radii, None), masked_decorrelation_curve(odd - odd.mean(), radii))
    curve_s = best_of(lambda: spec.curve(radii, None))
    masked_s = best_of(lambda: masked_decorrelation_curve(odd - odd.mean(), radii), repeats=1)
    decorrelation_s = best_of(lambda: decorrelation_analysis(a, 1.0))

    model = fit_niqe_model([grey], value_range=(0, 255))
    niqe_s = best_of(lambda: niqe(grey, model, (0, 255)))

    report(
        out,
        {
            "image_px": N,
            "fft2_seconds": round(fft_s, 5),
            "frc_seconds": round(frc_s, 4),
            "frc_textbook_seconds": round(textbook_s, 4),
            "frc_ratio": round(frc_s / textbook_s, 3),
            "decorrelation_curve_seconds": round(curve_s, 4),
            "decorrelation_curve_masked_seconds": round(masked_s, 4),
            "decorrelation_curve_ratio": round(curve_s / masked_s, 4),
            "decorrelation_seconds": round(decorrelation_s, 3),
            "decorrelation_fft_units": round(decorrelation_s / fft_s, 1),
            "niqe_seconds": round(niqe_s, 3),
            "niqe_fft_units": round(niqe_s / fft_s, 1),
        },
    )


if __name__ == "__main__":
    main()
