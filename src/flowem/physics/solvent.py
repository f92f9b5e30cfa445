"""The solvent a molecule displaces: mean potential of vitreous ice and the excess potential.

A particle embedded in ice scatters as its **excess** potential ``V_protein - V_ice * m(r)``
(a uniform slab only adds a constant phase). ``V_ice`` is the mean potential of ice computed
like the protein's: ``47.878 V A^2 * n_water * f_e,water(0)`` with ``f_e(0)`` of O + 2 H from
the ITC 4.3.2.2 fit (``gemmi.Element(el).c4322``) and ``n_water`` molecules per A^3 at
0.94 g/cm^3: 4.575 V.

``m`` is built from **per-atom excluded volumes**: every atom displaces a Gaussian sphere
``exp(-pi r^2 / v^(2/3))`` of volume ``v`` (Fraser, MacRae & Suzuki 1978, J. Appl. Cryst. 11,
693, the displaced-solvent model of CRYSOL), blurred by the atoms' B-factor like their
potential. An atom's ``v`` is its mass over the protein density (1.35 g/cm^3, Fischer et al.
2004, Protein Sci. 13, 2825); without explicit hydrogens each heavy atom carries its share
of the hydrogens' mass (7 % of a protein's mass). Inside the molecule ``m`` is close to 1.
"""

from __future__ import annotations

import math

import gemmi
import numpy as np

from flowem.physics.atoms import ScatteringAtoms
from flowem.physics.constants import POTENTIAL_PREFACTOR_V_A2
from flowem.physics.potential import potential_volume

#: Da per gram * cm^3 per A^3: converts a density in g/cm^3 to Da/A^3
DA_PER_A3_PER_G_CM3 = 6.02214076e23 * 1e-24
#: density of vitreous ice (g/cm^3) and of proteins (g/cm^3)
ICE_DENSITY_G_CM3 = 0.94
PROTEIN_DENSITY_G_CM3 = 1.35
#: mass fraction of hydrogen in a protein (average composition C4.9 H7.8 N1.4 O1.5 S0.04)
HYDROGEN_MASS_FRACTION = 0.07
_WATER_MASS_DA = 2 * gemmi.Element("H").weight + gemmi.Element("O").weight


def forward_scattering_a(symbol: str) -> float:
    """``f_e(0)`` (A) of one neutral atom: the sum of its ITC 4.3.2.2 amplitudes."""
    return float(sum(gemmi.Element(symbol).c4322.a))


def ice_mean_potential_v(density_g_cm3: float = ICE_DENSITY_G_CM3) -> float:
    """Mean potential of amorphous ice (V): ``47.878 * n_water * f_e(O + 2 H)`` (4.575 V)."""
    n_water = density_g_cm3 * DA_PER_A3_PER_G_CM3 / _WATER_MASS_DA
    f_water = forward_scattering_a("O") + 2.0 * forward_scattering_a("H")
    return POTENTIAL_PREFACTOR_V_A2 * n_water * f_water


def atom_volumes_a3(
    atoms: ScatteringAtoms, protein_density_g_cm3: float = PROTEIN_DENSITY_G_CM3
) -> np.ndarray:
    """``(n,)`` excluded volume (A^3) of each atom: its mass (with its share of implicit
    hydrogens when the model has none) over the protein density."""
    weights = {el: gemmi.Element(str(el)).weight for el in np.unique(atoms.elements)}
    mass = np.array([weights[el] for el in atoms.elements]) * atoms.occupancies
    if not np.isin(atoms.elements, ("H", "D")).any():
        mass = mass / (1.0 - HYDROGEN_MASS_FRACTION)
    return mass / (protein_density_g_cm3 * DA_PER_A3_PER_G_CM3)


def excluded_volume(atoms: ScatteringAtoms, voxel_size_a: float, size: int) -> np.ndarray:
    """Occupancy ``m`` (dimensionless, ``(size,) * 3``, ``(z, y, x)``, centroid at voxel
    ``size // 2``) of the atoms' Gaussian spheres; its sum times the voxel volume is the sum
    of :func:`atom_volumes_a3`.

    Atoms are spread trilinearly onto the grid (sum preserved), one element at a time, and
    convolved in Fourier space with ``exp(-(pi v^(2/3) + B / 4) k^2)``.
    """
    volumes = atom_volumes_a3(atoms)
    index = atoms.positions_a[:, ::-1] / voxel_size_a + size // 2  # (z, y, x) grid units
    k = [np.fft.fftfreq(size, voxel_size_a)] * 2 + [np.fft.rfftfreq(size, voxel_size_a)]
    k2 = k[0][:, None, None] ** 2 + k[1][None, :, None] ** 2 + k[2][None, None, :] ** 2
    spectrum = np.zeros(k2.shape, dtype=np.complex128)
    for symbol in np.unique(atoms.elements):
        chosen = atoms.elements == symbol
        grid = _spread(index[chosen], volumes[chosen], size)
        v = float(volumes[chosen].max())  # one element, one volume (occupancy aside)
        width = math.pi * v ** (2.0 / 3.0) + 0.25 * atoms.b_factor_a2
        spectrum += np.fft.rfftn(grid) * np.exp(-width * k2)
    return np.fft.irfftn(spectrum, s=(size,) * 3, axes=(0, 1, 2)) / voxel_size_a**3


def _spread(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Trilinear spreading of ``weights`` at fractional grid positions (periodic)."""
    grid = np.zeros((size,) * 3)
    base = np.floor(index).astype(np.int64)
    frac = index - base
    for corner in np.ndindex(2, 2, 2):
        offset = np.asarray(corner)
        w = np.prod(np.where(offset, frac, 1.0 - frac), axis=1) * weights
        z, y, x = ((base + offset) % size).T
        np.add.at(grid, (z, y, x), w)
    return grid


def excess_potential_volume(
    atoms: ScatteringAtoms, voxel_size_a: float, size: int, ice_potential_v: float
) -> np.ndarray:
    """``V_protein - V_ice * m`` in volts on the grid of :func:`potential_volume`."""
    vacuum = potential_volume(atoms, voxel_size_a, size)
    displaced = ice_potential_v * excluded_volume(atoms, voxel_size_a, size)
    return (vacuum - displaced).astype(np.float32)
