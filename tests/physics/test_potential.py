import math

import gemmi
import numpy as np
import pytest

from flowem.physics.atoms import atoms_from_structure
from flowem.physics.constants import POTENTIAL_PREFACTOR_V_A2
from flowem.physics.potential import narrowest_sigma_px, potential_volume, volume_size_for


def test_single_atom_volume_integral_and_peak(one_atom_structure):
    """V integrates to 47.878 f_e(0) V A^3; at the atom it is 47.878 sum a (4 pi / b)^1.5."""
    atoms = atoms_from_structure(one_atom_structure, b_factor_a2=40.0)
    voxel = 0.8
    size = volume_size_for(atoms, voxel)
    volume = potential_volume(atoms, voxel, size)
    f0 = sum(gemmi.Element("C").c4322.a)
    assert volume.sum(dtype=np.float64) * voxel**3 == pytest.approx(
        POTENTIAL_PREFACTOR_V_A2 * f0, rel=1e-4
    )
    centre = volume[size // 2, size // 2, size // 2]  # the atom sits exactly on this voxel
    peak = POTENTIAL_PREFACTOR_V_A2 * np.sum(
        np.asarray(atoms.coeff_a[0]) * (4 * math.pi / atoms.coeff_b[0]) ** 1.5
    )
    assert centre == pytest.approx(peak, rel=1e-4)
    assert volume.max() == centre


def test_centroid_sits_on_central_voxel_in_zyx_order(toy_structure):
    atoms = atoms_from_structure(toy_structure, b_factor_a2=60.0)
    voxel = 1.5
    size = volume_size_for(atoms, voxel)
    volume = potential_volume(atoms, voxel, size).astype(np.float64)
    # potential-weighted mean position (z, y, x) vs element-weighted atom centroid
    weights = atoms.coeff_a.sum(axis=1)
    expected_xyz = (atoms.positions_a * weights[:, None]).sum(0) / weights.sum()
    grid = np.indices(volume.shape).reshape(3, -1)
    centre_zyx = (grid * volume.ravel()).sum(axis=1) / volume.sum()
    np.testing.assert_allclose((centre_zyx - size // 2) * voxel, expected_xyz[::-1], atol=1e-3)
    # the cube holds the whole model: the potential vanishes on its faces
    assert max(np.abs(volume[0]).max(), np.abs(volume[:, :, -1]).max()) < 1e-4 * volume.max()


def test_narrowest_sigma_px(toy_structure):
    atoms = atoms_from_structure(toy_structure, b_factor_a2=50.0)
    b_min = min(min(gemmi.Element(el).c4322.b) for el in ("C", "N", "O")) + 50.0
    assert narrowest_sigma_px(atoms, 1.31) == pytest.approx(
        math.sqrt(b_min / (8 * math.pi**2)) / 1.31, rel=1e-6
    )
