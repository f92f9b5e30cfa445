"""Atoms of an atomic model as electron scatterers: positions, ITC 4.3.2.2 coefficients, B-factor.

An atom of element ``el`` with B-factor ``B`` scatters as ``f_e(s) = sum_i a_i exp(-(b_i + B) s^2)``
(``s = |k| / 2`` in 1/A, ``a_i`` in A, ``b_i`` in A^2): the five-Gaussian fit of ITC Table 4.3.2.2,
``gemmi.Element(el).c4322``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import gemmi
import numpy as np

from flowem.errors import InputFileError

_HYDROGENS = {"H", "D"}


@dataclass(frozen=True)
class ScatteringAtoms:
    """Atoms centred at their centroid, with one B-factor for all.

    Attributes:
        positions_a: ``(n, 3)`` float64 coordinates (x, y, z) in A, centroid at the origin.
        elements: ``(n,)`` element symbols.
        occupancies: ``(n,)`` occupancies (weights of the atoms' scattering).
        b_factor_a2: B-factor (A^2) added to every Gaussian width.
        centroid_a: the centroid (A) subtracted from the model's coordinates.
    """

    positions_a: np.ndarray
    elements: np.ndarray
    occupancies: np.ndarray
    b_factor_a2: float
    centroid_a: np.ndarray

    @cached_property
    def coeff_a(self) -> np.ndarray:
        """``(n, 5)`` amplitudes ``a_i * occupancy`` in A."""
        table = {el: np.asarray(gemmi.Element(str(el)).c4322.a) for el in np.unique(self.elements)}
        coeff = np.stack([table[el] for el in self.elements]) if self.n_atoms else np.empty((0, 5))
        return coeff * self.occupancies[:, None]

    @cached_property
    def coeff_b(self) -> np.ndarray:
        """``(n, 5)`` Gaussian widths ``b_i + B`` in A^2."""
        table = {el: np.asarray(gemmi.Element(str(el)).c4322.b) for el in np.unique(self.elements)}
        coeff = np.stack([table[el] for el in self.elements]) if self.n_atoms else np.empty((0, 5))
        return coeff + self.b_factor_a2

    @property
    def n_atoms(self) -> int:
        return int(self.positions_a.shape[0])

    def forward_scattering_a(self) -> float:
        """``sum over atoms of f_e(0)`` in A (the potential's volume integral over 47.878 V A^2)."""
        return float(self.coeff_a.sum())

    def max_extent_a(self) -> float:
        """Largest ``|coordinate|`` along any axis (A): half the side of the bounding cube."""
        return float(np.abs(self.positions_a).max()) if self.n_atoms else 0.0

    def max_radius_a(self) -> float:
        """Largest distance of an atom from the centroid (A): radius of the rotation sphere."""
        return float(np.linalg.norm(self.positions_a, axis=1).max()) if self.n_atoms else 0.0


def _keep_residue(residue: gemmi.Residue, waters: bool) -> bool:
    info = gemmi.find_tabulated_residue(residue.name)
    if residue.is_water():
        return waters
    return info is not None and info.is_amino_acid()


def atoms_from_structure(
    structure: gemmi.Structure,
    *,
    b_factor_a2: float,
    hydrogens: bool = False,
    waters: bool = False,
    source: str | Path = "<structure>",
) -> ScatteringAtoms:
    """Protein atoms of the first model (plus hydrogens / waters when asked), centred.

    Ligands and nucleic acids are dropped; occupancy weights the amplitudes so alternative
    conformations add up to one atom. ``b_factor_a2`` (A^2) replaces the file's B-factors.
    Raises :class:`InputFileError` (naming ``source``) for a structure without protein atoms
    or with non-finite coordinates.
    """
    if not math.isfinite(b_factor_a2) or b_factor_a2 < 0:
        raise ValueError(f"b_factor_a2 must be finite and >= 0, got {b_factor_a2}")
    if len(structure) == 0:
        raise InputFileError(source, "structure holds no model")
    positions, elements, occupancies = [], [], []
    n_protein = 0
    for chain in structure[0]:
        for residue in chain:
            if not _keep_residue(residue, waters):
                continue
            n_protein += not residue.is_water()
            for atom in residue:
                symbol = atom.element.name
                if symbol in _HYDROGENS and not hydrogens:
                    continue
                positions.append((atom.pos.x, atom.pos.y, atom.pos.z))
                elements.append("H" if symbol == "D" else symbol)
                occupancies.append(atom.occ)
    if n_protein == 0 or not positions:
        raise InputFileError(source, "structure holds no protein atoms (empty or non-protein)")
    xyz = np.asarray(positions, dtype=np.float64)
    if not np.isfinite(xyz).all():
        raise InputFileError(source, "structure has non-finite (NaN/Inf) atom coordinates")
    symbols = np.asarray(elements)
    for symbol in np.unique(symbols):
        if not any(gemmi.Element(str(symbol)).c4322.a):
            raise InputFileError(source, f"no ITC 4.3.2.2 scattering factors for element {symbol}")
    centroid = xyz.mean(axis=0)
    occ = np.asarray(occupancies, dtype=np.float64)
    return ScatteringAtoms(xyz - centroid, symbols, occ, float(b_factor_a2), centroid)
