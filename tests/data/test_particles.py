import json

import numpy as np
import pandas as pd
import pytest

from flowem.data import particles, phase_maps
from flowem.data.particle_table import COLUMNS
from flowem.io import read_mrc

GEOMETRY = {"size_px": 48, "pixel_size_a": 1.0, "bin_factor": 2}
#: the vacuum model (random ice differs between the full and matched grids; solvent and
#: envelope lower the toy molecule's contrast to the level of the shot noise)
VACUUM = {"ice_background": False, "detector_mtf": False, "solvent": False, "b_envelope_a2": 0.0}


@pytest.fixture
def poses(toy_pdb, tmp_path):
    params = {**GEOMETRY, "n_train": 1, "n_val": 2, "n_test": 3}
    out = tmp_path / "maps"
    assert (
        phase_maps.main(
            [
                "--structure",
                str(toy_pdb),
                "--outdir",
                str(out),
                "--params",
                json.dumps(params),
                "--seed",
                "5",
            ]
        )
        == 0
    )
    return out


def run(structure, poses_dir, out_dir, seed=5, **params):
    return particles.main(
        [
            "--structure",
            str(structure),
            "--poses",
            str(poses_dir / "poses.csv"),
            "--outdir",
            str(out_dir),
            "--params",
            json.dumps({**GEOMETRY, **params}),
            "--seed",
            str(seed),
        ]
    )


def test_counts_phase_and_table(toy_pdb, poses, tmp_path):
    out = tmp_path / "particles"
    assert run(toy_pdb, poses, out, dose_e_per_a2=30.0) == 0
    alpha = 30.0 * 2.0**2
    for split, count in (("val", 2), ("test", 3)):
        counts, voxel = read_mrc(out / f"{split}_counts.mrcs")
        phase, _ = read_mrc(out / f"{split}_phase.mrcs")
        assert counts.shape == phase.shape == (count, 24, 24)
        assert voxel == pytest.approx(2.0)
        assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0
        # ground truth = the phase maps of the same split and poses
        np.testing.assert_allclose(phase, read_mrc(poses / f"{split}.mrcs")[0], atol=1e-6)
        # solvent (image border) is vacuum: mean counts alpha per working pixel
        border = np.concatenate([counts[:, :3].ravel(), counts[:, -3:].ravel()])
        assert border.mean() == pytest.approx(alpha, rel=0.02)
        table = pd.read_csv(out / f"{split}.csv")
        assert tuple(table.columns) == COLUMNS
        assert table["defocus_u_a"].between(1e4, 2.5e4).all()
        assert (table["alpha"] == alpha).all() and (table["source"] == "simulated").all()


def test_reproducible_and_matched_resolution(toy_pdb, poses, tmp_path):
    assert run(toy_pdb, poses, tmp_path / "a") == 0
    assert run(toy_pdb, poses, tmp_path / "b") == 0
    assert run(toy_pdb, poses, tmp_path / "m", resolution="matched") == 0
    a = read_mrc(tmp_path / "a" / "test_counts.mrcs")[0]
    assert np.array_equal(a, read_mrc(tmp_path / "b" / "test_counts.mrcs")[0])
    matched = read_mrc(tmp_path / "m" / "test_counts.mrcs")[0]
    assert matched.shape == a.shape and not np.array_equal(matched, a)
    np.testing.assert_array_equal(
        read_mrc(tmp_path / "m" / "test_phase.mrcs")[0],
        read_mrc(tmp_path / "a" / "test_phase.mrcs")[0],
    )
    assert abs(matched.mean() / a.mean() - 1) < 0.05  # same dose, same vacuum level


def test_full_resolution_binning_sums_counts(toy_pdb, poses, tmp_path):
    """At high dose the particle signal is the same whether binned before or after the
    microscope: their difference is small next to the contrast of the particle itself."""
    assert (
        run(
            toy_pdb,
            poses,
            tmp_path / "f",
            dose_e_per_a2=5e4,
            defocus_min_um=1.0,
            defocus_max_um=1.0,
            **VACUUM,
        )
        == 0
    )
    assert (
        run(
            toy_pdb,
            poses,
            tmp_path / "m",
            dose_e_per_a2=5e4,
            defocus_min_um=1.0,
            defocus_max_um=1.0,
            resolution="matched",
            **VACUUM,
        )
        == 0
    )
    full = read_mrc(tmp_path / "f" / "test_counts.mrcs")[0] / (5e4 * 4) - 1
    matched = read_mrc(tmp_path / "m" / "test_counts.mrcs")[0] / (5e4 * 4) - 1
    assert np.linalg.norm(full - matched) < 0.5 * np.linalg.norm(full)
    assert np.corrcoef(full.ravel(), matched.ravel())[0, 1] > 0.9


def test_bad_pose_table_writes_nothing(toy_pdb, poses, tmp_path, capsys):
    table = pd.read_csv(poses / "poses.csv").drop(columns=["quat_w"])
    table.to_csv(poses / "poses.csv", index=False)
    assert run(toy_pdb, poses, tmp_path / "out") == 1
    assert "quat_w" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_defocus_range_is_a_config_error(toy_pdb, poses, tmp_path, capsys):
    assert run(toy_pdb, poses, tmp_path / "out", defocus_min_um=3.0, defocus_max_um=2.0) == 1
    assert "defocus" in capsys.readouterr().err


def test_another_dose_changes_only_the_counts(toy_pdb, poses, tmp_path):
    """The dose curve's particle sets (rule simulate_dose): the test split again at another
    dose has the same ground truth and defoci; only alpha and the counts change, the vacuum
    level in proportion to the dose."""
    assert run(toy_pdb, poses, tmp_path / "lo", dose_e_per_a2=20.0) == 0
    assert run(toy_pdb, poses, tmp_path / "hi", dose_e_per_a2=80.0, splits=["test"]) == 0
    assert not (tmp_path / "hi" / "val_counts.mrcs").exists()
    lo, hi = tmp_path / "lo", tmp_path / "hi"
    np.testing.assert_array_equal(
        read_mrc(lo / "test_phase.mrcs")[0], read_mrc(hi / "test_phase.mrcs")[0]
    )
    table_lo, table_hi = pd.read_csv(lo / "test.csv"), pd.read_csv(hi / "test.csv")
    np.testing.assert_array_equal(table_lo["defocus_u_a"], table_hi["defocus_u_a"])
    assert (table_hi["alpha"] == 4 * table_lo["alpha"]).all()
    counts_lo = read_mrc(lo / "test_counts.mrcs")[0]
    counts_hi = read_mrc(hi / "test_counts.mrcs")[0]
    assert counts_hi.sum() / counts_lo.sum() == pytest.approx(4.0, rel=0.02)


def test_switches_off_give_the_vacuum_model_bit_for_bit(toy_pdb):
    """Solvent, ice, envelope and detector off: the counts of the plain vacuum operator."""
    import torch
    from scipy.spatial.transform import Rotation

    from flowem.physics.binning import bin_sum
    from flowem.physics.ctf import Optics
    from flowem.physics.forward import MicroscopeForward
    from flowem.physics.phase import PhaseMapSimulator
    from flowem.runtime import torch_generator

    params = {**particles.DEFAULTS, **GEOMETRY, **VACUUM, "dose_e_per_a2": 40.0}
    atoms = phase_maps.load_atoms(toy_pdb, params)
    rotation = Rotation.from_quat([[0.1, 0.7, -0.2, 0.6]])
    defocus = (15000.0, 14000.0, 30.0)
    simulator = phase_maps.make_simulator(atoms, params)
    counts, _ = particles.simulate_particle(
        simulator, rotation, defocus, params, torch_generator(5, 2, 0)
    )
    vacuum = PhaseMapSimulator(atoms, phase_maps.geometry_from(params))
    full = vacuum.full_resolution(rotation).to(torch.float64)
    operator = MicroscopeForward(Optics(), (48, 48), 1.0, 40.0, *defocus)
    reference = bin_sum(operator.sample(full, torch_generator(5, 2, 0)), 2)[0]
    assert torch.equal(counts, reference)
    # and the realistic defaults do change the counts
    realistic, _ = particles.simulate_particle(
        phase_maps.make_simulator(atoms, {**params, "solvent": True}),
        rotation,
        defocus,
        {**params, "ice_background": True, "detector_mtf": True, "b_envelope_a2": 100.0},
        torch_generator(5, 2, 0),
    )
    assert not torch.equal(realistic, reference)
