"""FRC / FSC: known crossings of band-limited signals, thresholds and units."""

from __future__ import annotations

import numpy as np
import pytest
from tests.metrics.signals import band_limited

from flowem.metrics import (
    curve_resolution,
    fourier_correlation,
    frc,
    frc_resolution,
    fsc,
    fsc_resolution,
    resolutions,
    threshold_curve,
)


def noisy_pair(shape, kc, seed, noise=0.5):
    rng = np.random.default_rng(seed)
    s = band_limited(shape, kc, rng)
    return s + noise * rng.normal(size=shape), s + noise * rng.normal(size=shape)


@pytest.mark.parametrize("kc", [0.1, 0.25, 0.4])
def test_frc_of_noisy_copies_crosses_half_at_the_band_edge(kc):
    n, pixel = 256, 1.5  # angstrom
    a, b = noisy_pair((n, n), kc, seed=int(kc * 100))
    freq, curve = frc(a, b, pixel)
    # inside the band the expected FRC is SNR / (SNR + 1) with SNR = 1 / (band area * 0.25)
    inside = freq * pixel < kc - 2 / n
    outside = freq * pixel > kc + 2 / n
    assert curve[inside][1:].min() > 0.6
    assert np.abs(curve[outside]).max() < 0.2
    crossing = 1 / frc_resolution(a, b, pixel)  # 1/A
    assert abs(crossing * pixel - kc) <= 1 / n  # within one ring of the band edge
    assert frc_resolution(a, b, 2 * pixel) == pytest.approx(2 * frc_resolution(a, b, pixel))


def test_fsc_of_noisy_volumes_crosses_half_at_the_band_edge():
    n, voxel, kc = 48, 2.0, 0.25
    a, b = noisy_pair((n, n, n), kc, seed=5)
    freq, _ = fsc(a, b, voxel)
    assert freq[-1] == pytest.approx(1 / (2 * voxel))  # last shell is Nyquist
    assert abs(voxel / fsc_resolution(a, b, voxel) - kc) <= 1 / n


def test_ring_sums_over_half_spectrum_equal_the_full_grid():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 33, 40))
    _, curve, counts = fourier_correlation(a, b, 1.0)
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    ky, kx = np.meshgrid(np.fft.fftfreq(33), np.fft.fftfreq(40), indexing="ij")
    ring = np.rint(np.hypot(ky, kx) * 33).astype(int)
    for r in (1, 5, 16):
        m = ring == r
        full = np.real(np.sum(fa[m] * np.conj(fb[m]))) / np.sqrt(
            np.sum(np.abs(fa[m]) ** 2) * np.sum(np.abs(fb[m]) ** 2)
        )
        assert curve[r] == pytest.approx(full, rel=1e-10)
        assert counts[r] == m.sum()


def test_identical_images_reach_nyquist_and_independent_ones_fail_early():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(64, 64))
    assert np.allclose(frc(a, a, 1.0)[1][1:], 1.0)
    assert frc_resolution(a, a, 0.8) == pytest.approx(1.6)  # Nyquist bound
    res = resolutions(a, rng.normal(size=(64, 64)), 1.0)
    assert min(res.values()) > 10  # noise correlates nowhere: crossing near the origin


def test_half_bit_threshold_curve():
    counts = np.array([1.0, 100.0, 1e8])
    t = threshold_curve("half-bit", counts)
    assert t[0] == pytest.approx(2.1173 / 2.1173)  # one sample: threshold 1
    assert t[1] == pytest.approx((0.2071 + 0.19102) / (1.2071 + 0.09102))
    assert t[2] == pytest.approx(0.2071 / 1.2071, abs=1e-3)  # -> 0.1716 for large shells
    assert threshold_curve("1/7", counts) == pytest.approx(np.full(3, 1 / 7))
    with pytest.raises(ValueError, match="threshold"):
        threshold_curve("one-bit", counts)


def test_curve_resolution_of_one_pair_is_its_frc_resolution():
    a, b = noisy_pair((64, 64), 0.25, seed=3)
    freq, curve = frc(a, b, 2.0)
    for threshold in (0.5, 1 / 7):
        assert curve_resolution(freq, curve, 2.0, threshold) == frc_resolution(a, b, 2.0, threshold)
    assert curve_resolution(freq, np.ones_like(curve), 2.0) == 4.0  # never crosses: Nyquist
    with pytest.raises(ValueError, match="ring counts"):
        curve_resolution(freq, curve, 2.0, "half-bit")
