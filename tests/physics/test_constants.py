import math

import pytest

from flowem.physics.constants import (
    POTENTIAL_PREFACTOR_V_A2,
    electron_wavelength_a,
    interaction_constant,
)


def test_wavelength_at_300_kv():
    assert electron_wavelength_a(300) == pytest.approx(0.019687, abs=5e-7)


def test_wavelength_at_200_kv():
    assert electron_wavelength_a(200) == pytest.approx(0.025079, abs=5e-7)


@pytest.mark.parametrize(("kv", "sigma"), [(300, 6.5262e-4), (200, 7.2884e-4)])
def test_interaction_constant(kv, sigma):
    assert interaction_constant(kv) == pytest.approx(sigma, rel=2e-5)


def test_potential_prefactor():
    assert POTENTIAL_PREFACTOR_V_A2 == pytest.approx(47.878, abs=1e-3)


def test_interaction_constant_falls_with_voltage_towards_relativistic_limit():
    # sigma_e -> 2 pi e / (h c) in rad / (V m) as V -> infinity
    limit = 2 * math.pi * 1.602176634e-19 / (6.62607015e-34 * 299792458.0) * 1e-10
    assert interaction_constant(1e6) == pytest.approx(limit, rel=1e-3)
    assert interaction_constant(100) > interaction_constant(300) > interaction_constant(1e6)


@pytest.mark.parametrize("bad", [0.0, -300.0, float("nan")])
def test_bad_voltage(bad):
    with pytest.raises(ValueError, match="voltage"):
        electron_wavelength_a(bad)
