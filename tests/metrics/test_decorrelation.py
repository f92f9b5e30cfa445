"""Decorrelation analysis: the resolution of band-limited noise is 1 / kc."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from tests.metrics.signals import band_limited

from flowem.metrics import decorrelation_analysis, decorrelation_resolution
from flowem.metrics.decorrelation import _Spectrum


@pytest.mark.parametrize(("kc", "noise"), [(0.1, 0.0), (0.2, 0.5), (0.35, 0.3)])
def test_band_limited_noise_resolves_to_one_over_kc(kc, noise):
    rng = np.random.default_rng(int(100 * kc))
    pixel = 2.0  # nm
    img = band_limited((256, 256), kc, rng) + noise * rng.normal(size=(256, 256))
    expected = pixel / kc  # 1 / (kc / pixel) in nm
    assert decorrelation_resolution(img, pixel) == pytest.approx(expected, rel=0.10)


def test_blur_worsens_the_resolution_and_noise_has_none():
    rng = np.random.default_rng(3)
    img = band_limited((200, 200), 0.4, rng)
    sharp = decorrelation_resolution(img, 1.0)
    blurred = decorrelation_resolution(ndimage.gaussian_filter(img, 3.0), 1.0)
    assert blurred > 2 * sharp
    assert math.isnan(decorrelation_resolution(rng.normal(size=(128, 128)), 1.0))


def test_analysis_reports_its_curve():
    rng = np.random.default_rng(4)
    result = decorrelation_analysis(band_limited((128, 128), 0.2, rng), 1.0)
    assert result.radii.shape == result.curve.shape
    assert 0.05 <= result.amplitude <= 1.0
    assert result.resolution == pytest.approx(2.0 / result.kc)


def test_sorted_cumulative_sums_equal_disc_masked_sums():
    """d(r) = sum Re(I In*) / (||I|| ||In||) over the disc R < r, computed the slow way."""
    rng = np.random.default_rng(5)
    img = ndimage.gaussian_filter(rng.normal(size=(41, 41)), 1.0)
    img -= img.mean()
    radii = np.linspace(0, 1, 30)
    g = 3.0
    spectrum = np.fft.fft2(img)
    k = np.fft.fftfreq(41)
    r = 2 * np.hypot(*np.meshgrid(k, k, indexing="ij"))
    spectrum = spectrum * (r < 1)
    phase = np.divide(spectrum, np.abs(spectrum), out=np.zeros_like(spectrum), where=r < 1)
    filtered = spectrum * (1 - np.exp(-2 * g * g * r**2))
    expected = [
        np.sum(np.real(filtered * np.conj(phase * (r < x))))
        / np.sqrt(np.sum(np.abs(filtered) ** 2) * np.sum(r < x))
        if x > 0
        else 0.0
        for x in radii
    ]
    assert _Spectrum(img).curve(radii, g) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("seed", "size", "sigma"), [(9, 21, 1.0), (9, 32, 1.0), (14, 16, 2.0)])
def test_small_smooth_images_whose_best_filter_is_the_last(seed, size, sigma):
    """Regression: when the last high-pass filter gives the highest kc the refinement indexed
    past the filter list; small smooth crops (restorations of 32 px patches) hit it. The
    resolution is then finite and no finer than the blur allows (Nyquist is 2 px)."""
    img = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(size, size)), sigma)
    resolution = decorrelation_resolution(img, 1.0)
    assert math.isnan(resolution) or 2.0 <= resolution <= size
