import gemmi
import numpy as np
import pytest

from flowem.physics.atoms import atoms_from_structure
from flowem.physics.constants import POTENTIAL_PREFACTOR_V_A2
from flowem.physics.potential import potential_volume, volume_size_for
from flowem.physics.solvent import (
    atom_volumes_a3,
    excess_potential_volume,
    excluded_volume,
    ice_mean_potential_v,
)


def test_ice_mean_potential_from_water_scattering_factors():
    """47.878 * (0.94 g/cm^3 / 18.015 Da) * f_e(O + 2 H) = 4.575 V (SPEC: about 4.5 V)."""
    n_water = 0.94 * 6.02214076e23 / 1e24 / 18.015
    f_water = sum(gemmi.Element("O").c4322.a) + 2 * sum(gemmi.Element("H").c4322.a)
    assert ice_mean_potential_v() == pytest.approx(
        POTENTIAL_PREFACTOR_V_A2 * n_water * f_water, rel=1e-4
    )
    assert ice_mean_potential_v() == pytest.approx(4.575, abs=0.01)


def test_single_atom_excess_potential_integral(one_atom_structure):
    """The excess potential of one C in ice integrates to 47.878 f_e(0) - V_ice * v_C."""
    atoms = atoms_from_structure(one_atom_structure, b_factor_a2=40.0)
    voxel = 0.8
    size = volume_size_for(atoms, voxel) + 16  # room for the displaced sphere's tails
    v_ice = ice_mean_potential_v()
    volume = excess_potential_volume(atoms, voxel, size, v_ice)
    v_carbon = 12.011 / 0.93 / (1.35 * 0.602214076)  # mass with its hydrogens / density (A^3)
    assert atom_volumes_a3(atoms)[0] == pytest.approx(v_carbon, rel=1e-3)
    f0 = sum(gemmi.Element("C").c4322.a)
    expected = POTENTIAL_PREFACTOR_V_A2 * f0 - v_ice * v_carbon
    assert volume.sum(dtype=np.float64) * voxel**3 == pytest.approx(expected, rel=1e-4)
    # ice cancels most of a light atom's contrast (protein ~7 V against ice 4.6 V)
    assert 0.3 < v_ice * v_carbon / (POTENTIAL_PREFACTOR_V_A2 * f0) < 0.8


def test_excluded_volume_fills_a_dense_cluster(toy_structure):
    """Inside a molecule m is close to 1 (volumes tile space at protein density), 0 far out."""
    atoms = atoms_from_structure(toy_structure, b_factor_a2=20.0)
    voxel = 1.0
    size = volume_size_for(atoms, voxel) + 16
    mask = excluded_volume(atoms, voxel, size)
    assert mask.sum() * voxel**3 == pytest.approx(atom_volumes_a3(atoms).sum(), rel=1e-6)
    assert abs(mask[0, 0, 0]) < 1e-6
    assert mask.max() > 0.2


def test_zero_ice_potential_is_the_vacuum_potential(toy_structure):
    atoms = atoms_from_structure(toy_structure, b_factor_a2=20.0)
    size = volume_size_for(atoms, 1.0)
    vacuum = potential_volume(atoms, 1.0, size)
    np.testing.assert_allclose(excess_potential_volume(atoms, 1.0, size, 0.0), vacuum, atol=1e-6)
