"""deform-structure: the mismatched test structure has the requested RMSD, is reproducible
from the seed, and another structure is superposed on the training model."""

from __future__ import annotations

import gemmi
import numpy as np
import pandas as pd
import pytest
from tests.conftest import toy_pdb_text

from flowem.cli import main as flowem
from flowem.data.mismatch import DEFAULTS, anm_displacement, displaced, rmsd, run
from flowem.data.structure import atom_positions, prepare_structure
from flowem.errors import ConfigError
from flowem.io import read_structure, write_pdb


@pytest.fixture
def model(tmp_path):
    """The prepared (centred, heavy-atom) toy model, as check-structure writes it."""
    raw = tmp_path / "raw.pdb"
    raw.write_text(toy_pdb_text(n_residues=10))
    path = tmp_path / "model.pdb"
    write_pdb(path, prepare_structure(read_structure(raw), raw))
    return path


@pytest.mark.parametrize("target", [0.5, 2.0, 7.0])
def test_anm_deformation_has_the_requested_rmsd(model, target):
    structure = read_structure(model)
    shift = anm_displacement(structure, target, seed=3, n_modes=4)
    moved = displaced(structure, shift)
    assert rmsd(atom_positions(structure), atom_positions(moved)) == pytest.approx(target, 1e-9)
    # modes are orthogonal to rigid motions: the C-alpha centroid does not move
    calpha = [i for i, cra in enumerate(structure[0].all()) if cra.atom.name == "CA"]
    assert np.abs(shift[calpha].mean(axis=0)).max() < 1e-6 * target


def test_deformation_is_reproducible_from_the_seed(model):
    structure = read_structure(model)
    a = anm_displacement(structure, 2.0, seed=5, n_modes=4)
    b = anm_displacement(structure, 2.0, seed=5, n_modes=4)
    c = anm_displacement(structure, 2.0, seed=6, n_modes=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1


def test_command_writes_model_with_the_rmsd_in_its_summary(model, tmp_path):
    out = tmp_path / "out"
    params = '{"kind": "anm", "rmsd_a": 2.0, "n_modes": 4}'
    argv = ["deform-structure", "--structure", str(model), "--outdir", str(out)]
    assert flowem([*argv, "--params", params, "--seed", "1"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert summary.rmsd_a.iloc[0] == pytest.approx(2.0, 1e-9)
    written = atom_positions(read_structure(out / "model.pdb"))
    before = atom_positions(read_structure(model))
    assert rmsd(before, written) == pytest.approx(2.0, abs=2e-3)  # PDB keeps 1e-3 A
    assert summary.rmsd_superposed_a.iloc[0] <= summary.rmsd_a.iloc[0] + 1e-6


def test_other_structure_is_superposed_on_the_model(model, tmp_path):
    rotated = read_structure(model)
    turn = gemmi.Transform(gemmi.Mat33([[0, -1, 0], [1, 0, 0], [0, 0, 1]]), gemmi.Vec3(4, 0, 0))
    rotated[0].transform_pos_and_adp(turn)
    other = tmp_path / "other.pdb"
    write_pdb(other, rotated)
    params = {**DEFAULTS, "kind": "structure"}
    result, summary = run(params, model, seed=0, other=other)
    back = atom_positions(result)
    assert rmsd(back, atom_positions(read_structure(model))) < 5e-3
    assert summary.shared_calpha.iloc[0] == 20
    with pytest.raises(ConfigError, match="--other"):
        run(params, model, seed=0)


def test_kind_none_keeps_the_model_and_bad_kind_is_refused(model, tmp_path):
    result, summary = run({**DEFAULTS, "kind": "none"}, model, seed=0)
    assert summary.rmsd_a.iloc[0] == 0.0
    np.testing.assert_array_equal(atom_positions(result), atom_positions(read_structure(model)))
    argv = ["deform-structure", "--structure", str(model), "--outdir", str(tmp_path / "x")]
    assert flowem([*argv, "--params", '{"kind": "bent"}']) != 0
