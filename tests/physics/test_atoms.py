import gemmi
import numpy as np
import pytest

from flowem.errors import InputFileError
from flowem.physics.atoms import atoms_from_structure


def test_centred_at_centroid(toy_structure):
    atoms = atoms_from_structure(toy_structure, b_factor_a2=20.0)
    assert atoms.n_atoms == 200
    np.testing.assert_allclose(atoms.positions_a.mean(axis=0), 0.0, atol=1e-9)
    raw = np.array([a.pos.tolist() for res in toy_structure[0][0] for a in res])
    np.testing.assert_allclose(atoms.centroid_a, raw.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(atoms.positions_a, raw - raw.mean(axis=0), atol=1e-9)


def test_coefficients_are_itc_4322_plus_b_factor(toy_structure):
    atoms = atoms_from_structure(toy_structure, b_factor_a2=20.0)
    oxygen = np.flatnonzero(atoms.elements == "O")[0]
    c4322 = gemmi.Element("O").c4322
    np.testing.assert_allclose(atoms.coeff_a[oxygen], c4322.a, rtol=1e-6)
    np.testing.assert_allclose(atoms.coeff_b[oxygen], np.asarray(c4322.b) + 20.0, rtol=1e-6)


def _add_water_and_hydrogen(structure: gemmi.Structure) -> None:
    hydrogen = gemmi.Atom()
    hydrogen.name, hydrogen.element, hydrogen.occ = "H", gemmi.Element("H"), 1.0
    structure[0][0][0].add_atom(hydrogen)
    water = gemmi.Residue()
    water.name, water.seqid = "HOH", gemmi.SeqId(900, " ")
    oxygen = gemmi.Atom()
    oxygen.name, oxygen.element, oxygen.occ = "O", gemmi.Element("O"), 1.0
    water.add_atom(oxygen)
    structure[0][0].add_residue(water)


def test_hydrogen_and_water_options(toy_structure):
    _add_water_and_hydrogen(toy_structure)
    assert atoms_from_structure(toy_structure, b_factor_a2=0.0).n_atoms == 200
    assert atoms_from_structure(toy_structure, b_factor_a2=0.0, hydrogens=True).n_atoms == 201
    assert atoms_from_structure(toy_structure, b_factor_a2=0.0, waters=True).n_atoms == 201


def test_occupancy_weights_amplitudes(toy_structure):
    toy_structure[0][0][0][0].occ = 0.5
    atoms = atoms_from_structure(toy_structure, b_factor_a2=0.0)
    full = np.asarray(gemmi.Element(atoms.elements[0]).c4322.a)
    np.testing.assert_allclose(atoms.coeff_a[0], 0.5 * full, rtol=1e-6)


def test_empty_structure_is_rejected():
    structure = gemmi.Structure()
    structure.add_model(gemmi.Model("1"))
    with pytest.raises(InputFileError, match="no protein atoms"):
        atoms_from_structure(structure, b_factor_a2=20.0, source="empty.pdb")


def test_non_protein_structure_is_rejected(toy_structure):
    for residue in toy_structure[0][0]:
        residue.name = "LIG"
    with pytest.raises(InputFileError, match=r"ligand.pdb: .*no protein atoms"):
        atoms_from_structure(toy_structure, b_factor_a2=20.0, source="ligand.pdb")


def test_nan_coordinates_are_rejected(toy_structure):
    toy_structure[0][0][3][1].pos = gemmi.Position(float("nan"), 0.0, 0.0)
    with pytest.raises(InputFileError, match="non-finite"):
        atoms_from_structure(toy_structure, b_factor_a2=20.0, source="nan.pdb")


def test_negative_b_factor_is_rejected(toy_structure):
    with pytest.raises(ValueError, match="b_factor"):
        atoms_from_structure(toy_structure, b_factor_a2=-1.0)
