"""Small synthetic structures for the physics tests (no data files needed)."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

_ALA = (("N", "N"), ("CA", "C"), ("C", "C"), ("O", "O"), ("CB", "C"))


def make_structure(positions: np.ndarray, residue_name: str = "ALA") -> gemmi.Structure:
    """One chain of ``residue_name`` residues, five atoms each (N, CA, C, O, CB / SG for CYS)."""
    model = gemmi.Model("1")
    chain = gemmi.Chain("A")
    names = _ALA if residue_name != "CYS" else (*_ALA[:4], ("SG", "S"))
    for r, start in enumerate(range(0, len(positions), len(names))):
        residue = gemmi.Residue()
        residue.name = residue_name
        residue.seqid = gemmi.SeqId(r + 1, " ")
        residue.entity_type = gemmi.EntityType.Polymer
        for (name, element), xyz in zip(names, positions[start : start + len(names)], strict=False):
            atom = gemmi.Atom()
            atom.name, atom.element = name, gemmi.Element(element)
            atom.pos, atom.occ, atom.b_iso = gemmi.Position(*xyz), 1.0, 0.0
            residue.add_atom(atom)
        chain.add_residue(residue)
    model.add_chain(chain)
    structure = gemmi.Structure()
    structure.add_model(model)
    structure.setup_entities()
    return structure


@pytest.fixture
def toy_structure() -> gemmi.Structure:
    """40 asymmetric ALA residues (200 atoms) spread over about +-14 A around (50, 40, 30)."""
    positions = np.random.default_rng(7).normal(scale=6.0, size=(200, 3))
    positions[:, 0] *= 1.5  # elongated: projections depend on the rotation
    return make_structure(positions + np.array([50.0, 40.0, 30.0]))


@pytest.fixture
def one_atom_structure() -> gemmi.Structure:
    """A single carbon (first atom of one residue, occupancy 1) at (10.3, 20.1, 5.7) A."""
    structure = make_structure(np.array([[10.3, 20.1, 5.7]]))
    residue = structure[0][0][0]
    residue[0].element = gemmi.Element("C")
    return structure
