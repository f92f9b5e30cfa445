"""Radial power spectrum and the energy-distance ratio to the held-out noise floor."""

import numpy as np
import pytest
import torch

from flowem.metrics import energy_distance
from flowem.prior.quality import SPLIT_STREAM, energy_distance_ratio, radial_power_spectrum
from flowem.runtime import rng


def test_one_split_is_the_energy_distance_of_the_halves_and_of_generated_vs_each_half():
    gen = np.random.default_rng(1)
    generated, heldout = gen.normal(size=(10, 3, 3)), gen.normal(0.3, 1, size=(24, 3, 3))
    ratio = energy_distance_ratio(generated, heldout, seed=5, splits=1)
    order = rng(5, SPLIT_STREAM, 0).permutation(len(heldout))
    half_a, half_b = (torch.as_tensor(heldout[order[k : k + 10]]) for k in (0, 10))
    gen_t = torch.as_tensor(generated)
    floor = float(energy_distance(half_a, half_b))
    to_halves = 0.5 * float(energy_distance(gen_t, half_a) + energy_distance(gen_t, half_b))
    assert ratio.heldout_half_vs_half == pytest.approx(floor, rel=1e-9)
    assert ratio.generated_vs_heldout == pytest.approx(to_halves, rel=1e-9)
    assert ratio.energy_distance_ratio == pytest.approx(to_halves / floor, rel=1e-9)


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
