"""check-structure: selection of atoms, centring, summary, and bad inputs."""

from __future__ import annotations

import gemmi
import numpy as np
import pandas as pd
import pytest
from tests.conftest import pdb_atom_line

from flowem.cli import main as flowem
from flowem.data.structure import atom_positions, prepare_structure, summarise
from flowem.errors import InputFileError
from flowem.io import read_structure


def test_keeps_protein_heavy_atoms_centred(toy_pdb):
    structure = prepare_structure(read_structure(toy_pdb), toy_pdb)
    elements = {cra.atom.element.name for cra in structure[0].all()}
    assert elements == {"N", "C", "O"}  # no H, no zinc
    residues = {res.name for chain in structure[0] for res in chain}
    assert residues == {"ALA"}
    assert structure[0].count_atom_sites() == 2 * 6 * 5
    np.testing.assert_allclose(atom_positions(structure).mean(axis=0), 0.0, atol=1e-3)


def test_options_keep_hydrogens_and_waters(toy_pdb):
    structure = prepare_structure(read_structure(toy_pdb), toy_pdb, hydrogens=True, waters=True)
    residues = {res.name for chain in structure[0] for res in chain}
    assert residues == {"ALA", "HOH"}  # the zinc ion is a ligand: never kept
    assert structure[0].count_atom_sites() == 2 * 6 * 5 + 6 + 1


def test_centring_preserves_shape(toy_pdb):
    raw = read_structure(toy_pdb)
    before = atom_positions(prepare_structure(raw, toy_pdb))
    shifted = raw.clone()
    shifted[0].transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(5, -7, 9)))
    after = atom_positions(prepare_structure(shifted, toy_pdb))
    np.testing.assert_allclose(after, before, atol=2e-3)  # PDB precision is 1e-3 A


def test_summary_counts_and_extent(toy_pdb):
    structure = prepare_structure(read_structure(toy_pdb), toy_pdb)
    summary = summarise(structure)
    per_chain = summary[summary.chain != "all"]
    assert per_chain.residues.tolist() == [6, 6]
    assert per_chain.atoms.tolist() == [30, 30]
    total = summary[summary.chain == "all"].iloc[0]
    xyz = atom_positions(structure)
    assert total.atoms == 60
    assert total.extent_y_a == pytest.approx(np.ptp(xyz[:, 1]))
    assert total.radius_of_gyration_a == pytest.approx(
        np.sqrt((xyz**2).sum(axis=1).mean()), rel=1e-3
    )


def test_non_protein_structure_is_rejected(tmp_path):
    path = tmp_path / "waters.pdb"
    lines = [
        pdb_atom_line(i + 1, "O", "HOH", "W", i + 1, (i, 0, 0), "O", "HETATM") for i in range(3)
    ]
    path.write_text("\n".join([*lines, "END", ""]))
    with pytest.raises(InputFileError, match=r"waters\.pdb: structure holds no protein residues"):
        prepare_structure(read_structure(path), path)


def test_command_writes_outputs_and_config(toy_pdb, tmp_path):
    out = tmp_path / "out"
    rc = flowem(
        [
            "check-structure",
            str(toy_pdb),
            "--outdir",
            str(out),
            "--params",
            '{"waters": false}',
            "--override",
            "waters=true",
        ]
    )
    assert rc == 0
    assert read_structure(out / "model.pdb")[0].count_atom_sites() == 61
    assert pd.read_csv(out / "summary.csv").iloc[-1].atoms == 61
    import json

    assert json.loads((out / "config.json").read_text())["config"]["waters"] is True


def test_command_on_bad_input_fails_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.pdb"
    bad.write_text("garbage\n")
    out = tmp_path / "out"
    rc = flowem(
        [
            "check-structure",
            str(bad),
            "--outdir",
            str(out),
        ]
    )
    assert rc == 1
    assert "bad.pdb: structure holds no atoms" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_real_t20s_summary(mirror_dir):
    path = mirror_dir / "pdb" / "3j9i.pdb"
    summary = summarise(prepare_structure(read_structure(path), path))
    total = summary[summary.chain == "all"].iloc[0]
    assert len(summary) == 29  # 28 chains + total
    assert total.atoms == 46228
    assert total.residues == 14 * 224 + 14 * 203
    assert 120 < total.extent_z_a < 200  # the barrel: ~150 A long, ~110 A wide
