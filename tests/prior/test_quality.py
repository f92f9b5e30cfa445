"""Energy distance, radial power spectrum and the noise-floor ratio."""

import numpy as np
import pytest
from scipy.stats import energy_distance as scipy_energy_distance

from flowem.prior.quality import energy_distance, energy_distance_ratio, radial_power_spectrum


def test_energy_distance_matches_scipy_in_one_dimension():
    gen = np.random.default_rng(0)
    x, y = gen.normal(0, 1, 50), gen.normal(0.5, 2, 70)
    # scipy returns the square root of 2E|X-Y| - E|X-X'| - E|Y-Y'| (empirical distributions)
    assert energy_distance(x[:, None], y[:, None]) == pytest.approx(
        scipy_energy_distance(x, y) ** 2, rel=1e-10
    )


def test_energy_distance_of_a_set_with_itself_is_zero_and_symmetric():
    gen = np.random.default_rng(1)
    x, y = gen.normal(size=(20, 3, 3)), gen.normal(size=(30, 3, 3))
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert energy_distance(x, y) == pytest.approx(energy_distance(y, x), rel=1e-12)


def test_radial_spectrum_puts_a_cosine_on_its_ring():
    size, frequency = 16, 3
    xx = np.arange(size)
    image = np.cos(2 * np.pi * frequency * xx / size)[None, :].repeat(size, 0)
    spectrum = radial_power_spectrum(image[None])[0]
    assert spectrum.shape == (size // 2 + 1,)
    assert np.argmax(spectrum) == frequency
    constant = radial_power_spectrum(np.ones((1, size, size)))[0]
    assert np.argmax(constant) == 0 and constant[1:].max() < constant[0] - 20


def test_ratio_is_near_one_for_the_same_distribution_and_large_for_another():
    gen = np.random.default_rng(2)
    heldout = gen.normal(size=(200, 4, 4))
    same = energy_distance_ratio(gen.normal(size=(100, 4, 4)), heldout, seed=0)
    shifted = energy_distance_ratio(gen.normal(0.5, 1, size=(100, 4, 4)), heldout, seed=0)
    assert same.set_size == 100
    assert 0.5 < same.energy_distance_ratio < 2.0
    assert shifted.energy_distance_ratio > 5.0
    assert same.heldout_half_vs_half == pytest.approx(shifted.heldout_half_vs_half)
