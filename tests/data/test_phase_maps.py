import json

import numpy as np
import pandas as pd
import pytest

from flowem.data import phase_maps
from flowem.io import read_mrc, read_structure
from flowem.physics.atoms import atoms_from_structure
from flowem.physics.constants import POTENTIAL_PREFACTOR_V_A2, interaction_constant
from flowem.physics.solvent import atom_volumes_a3, ice_mean_potential_v

SMALL = {
    "n_train": 6,
    "n_val": 2,
    "n_test": 3,
    "n_heldout": 4,
    "size_px": 48,
    "pixel_size_a": 1.0,
    "bin_factor": 2,
    "batch_size": 4,
}


def run(structure, out_dir, params=SMALL, seed=3, extra=()):
    return phase_maps.main(
        [
            "--structure",
            str(structure),
            "--outdir",
            str(out_dir),
            "--params",
            json.dumps(params),
            "--seed",
            str(seed),
            *extra,
        ]
    )


def test_outputs_units_and_pose_table(toy_pdb, tmp_path):
    out = tmp_path / "maps"
    assert run(toy_pdb, out, extra=["--figure", str(tmp_path / "fig.png")]) == 0
    atoms = atoms_from_structure(read_structure(toy_pdb), b_factor_a2=50.0)
    # solvent on by default: the atoms' potential less the ice they displace
    excess = POTENTIAL_PREFACTOR_V_A2 * atoms.forward_scattering_a()
    excess -= ice_mean_potential_v() * atom_volumes_a3(atoms).sum()
    expected = interaction_constant(300) * excess
    for split, count in (("train", 6), ("val", 2), ("test", 3), ("heldout", 4)):
        maps, voxel = read_mrc(out / f"{split}.mrcs")
        assert maps.shape == (count, 24, 24)
        assert voxel == pytest.approx(2.0)
        # radians: each map integrates to sigma_e * the potential's volume integral (rad A^2)
        np.testing.assert_allclose(maps.sum(axis=(1, 2)) * voxel**2, expected, rtol=5e-3)
    poses = pd.read_csv(out / "poses.csv")
    assert list(poses.groupby("split").size().sort_index()) == [4, 3, 6, 2]
    quats = poses[["quat_x", "quat_y", "quat_z", "quat_w"]].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0, rtol=1e-9)
    assert len({tuple(np.round(q, 9)) for q in quats}) == len(quats)  # disjoint rotations
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["params"]["n_train"] == 6
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_same_seed_same_maps_other_seed_other_maps(toy_pdb, tmp_path):
    assert run(toy_pdb, tmp_path / "a") == 0
    assert run(toy_pdb, tmp_path / "b") == 0
    assert run(toy_pdb, tmp_path / "c", seed=4) == 0
    # arrays, not bytes: mrcfile stamps the creation time into the header's first label
    for name in ("train.mrcs", "test.mrcs"):
        a, b = (read_mrc(tmp_path / run_dir / name)[0] for run_dir in ("a", "b"))
        assert np.array_equal(a, b)
    assert (tmp_path / "a" / "poses.csv").read_bytes() == (
        tmp_path / "b" / "poses.csv"
    ).read_bytes()
    assert not np.array_equal(
        read_mrc(tmp_path / "a" / "train.mrcs")[0], read_mrc(tmp_path / "c" / "train.mrcs")[0]
    )


def test_split_streams_are_independent_of_split_sizes(toy_pdb, tmp_path):
    assert run(toy_pdb, tmp_path / "a") == 0
    assert run(toy_pdb, tmp_path / "b", params={**SMALL, "n_train": 2}) == 0
    np.testing.assert_array_equal(
        read_mrc(tmp_path / "a" / "test.mrcs")[0], read_mrc(tmp_path / "b" / "test.mrcs")[0]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("END\n", "no atoms"),
        (
            "HETATM    1 ZN    ZN Z   1      95.000   5.000   5.000  1.00 20.00          ZN\nEND\n",
            "no protein atoms",
        ),
        (
            "ATOM      1  CA  ALA A   1         nan   5.000   5.000  1.00 20.00           C\nEND\n",
            "non-finite",
        ),
    ],
)
def test_bad_structure_writes_nothing(tmp_path, capsys, text, message):
    bad = tmp_path / "bad.pdb"
    bad.write_text(text)
    assert run(bad, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "bad.pdb" in err and message in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("change", "word"),
    [({"n_trian": 5}, "n_trian"), ({"size_px": 50}, "multiple"), ({"n_val": -1}, "n_val")],
)
def test_bad_parameters_are_config_errors(toy_pdb, tmp_path, capsys, change, word):
    assert run(toy_pdb, tmp_path / "out", params={**SMALL, **change}) == 1
    assert word in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
