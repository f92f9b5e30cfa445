"""Electrostatic potential of an atomic model on a cubic grid, in volts.

``V(r) = 47.878 V A^2 * rho(r)`` where ``rho`` (A^-2) is the sum of the atoms' ITC 4.3.2.2
five-Gaussian densities ``a_i (4 pi / b_i)^(3/2) exp(-4 pi^2 r^2 / b_i)``, computed by
``gemmi.DensityCalculatorE``. Its volume integral is ``47.878 * sum f_e(0)`` V A^3.
"""

from __future__ import annotations

import math

import gemmi
import numpy as np
from scipy import fft as sp_fft

from flowem.physics.atoms import ScatteringAtoms
from flowem.physics.constants import POTENTIAL_PREFACTOR_V_A2

#: gemmi's density cutoff (A^-2) below which a Gaussian's tail is not added.
_DENSITY_CUTOFF = 1e-6


def gaussian_radius_a(b_a2: float, rel_cutoff: float = 1e-5) -> float:
    """Radius (A) where ``exp(-4 pi^2 r^2 / b)`` falls to ``rel_cutoff``."""
    return math.sqrt(-math.log(rel_cutoff) * b_a2) / (2.0 * math.pi)


def narrowest_sigma_px(atoms: ScatteringAtoms, voxel_size_a: float) -> float:
    """Standard deviation, in voxels, of the narrowest Gaussian (``sigma^2 = b / (8 pi^2)``).

    Below about 0.5 the grid under-samples the atoms and sums of voxels miss the integral.
    """
    return math.sqrt(float(atoms.coeff_b.min()) / (8.0 * math.pi**2)) / voxel_size_a


def volume_size_for(atoms: ScatteringAtoms, voxel_size_a: float) -> int:
    """Smallest even, FFT-friendly cube side (voxels) holding every atom and its Gaussian tails.

    The cube is centred on the centroid (voxel ``n // 2``); the rotation happens later in
    Fourier space, so the cube needs to hold the model only in its own frame.
    """
    margin = gaussian_radius_a(float(atoms.coeff_b.max())) + 2.0 * voxel_size_a
    n = math.ceil(2.0 * (atoms.max_extent_a() + margin) / voxel_size_a)
    n = sp_fft.next_fast_len(n + (n % 2), real=True)
    while n % 2:
        n = sp_fft.next_fast_len(n + 1, real=True)
    return n


def _as_gemmi_structure(atoms: ScatteringAtoms, side_a: float) -> gemmi.Structure:
    """A P1 gemmi structure in a cubic cell of side ``side_a`` with the centroid at its centre."""
    structure = gemmi.Structure()
    structure.cell = gemmi.UnitCell(side_a, side_a, side_a, 90, 90, 90)
    structure.spacegroup_hm = "P 1"
    model = gemmi.Model("1")
    chain = gemmi.Chain("A")
    residue = gemmi.Residue()
    residue.name = "UNK"
    residue.seqid = gemmi.SeqId(1, " ")
    for xyz, symbol, occ in zip(
        atoms.positions_a + side_a / 2.0, atoms.elements, atoms.occupancies, strict=True
    ):
        atom = gemmi.Atom()
        atom.element = gemmi.Element(str(symbol))
        atom.pos = gemmi.Position(*xyz)
        atom.occ = float(occ)
        atom.b_iso = atoms.b_factor_a2
        residue.add_atom(atom)
    chain.add_residue(residue)
    model.add_chain(chain)
    structure.add_model(model)
    return structure


def potential_volume(atoms: ScatteringAtoms, voxel_size_a: float, size: int) -> np.ndarray:
    """Potential in volts on a ``(size,) * 3`` grid ordered ``(z, y, x)``.

    The centroid sits at voxel ``(size // 2,) * 3``; the grid is periodic, so ``size`` should
    come from :func:`volume_size_for` (atoms and tails inside the cube).
    """
    if size % 2:
        raise ValueError(f"volume size must be even, got {size}")
    structure = _as_gemmi_structure(atoms, size * voxel_size_a)
    calc = gemmi.DensityCalculatorE()
    calc.grid.setup_from(structure)
    calc.grid.set_size(size, size, size)
    calc.cutoff = _DENSITY_CUTOFF
    calc.add_model_density_to_grid(structure[0])
    density = np.array(calc.grid, copy=False).transpose(2, 1, 0)  # gemmi indexes (x, y, z)
    return (POTENTIAL_PREFACTOR_V_A2 * density).astype(np.float32)
