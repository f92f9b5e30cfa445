"""The FlowDPS stage's commands on a tiny simulated particle set and an untrained prior."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from flowem.cli import main as flowem
from flowem.flowdps.run import shard_indices
from flowem.flowdps.tune import candidates
from flowem.io import read_mrc, write_mrc, write_table
from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward
from flowem.prior.checkpoint import save_prior_model
from flowem.prior.dataset import Normaliser
from flowem.prior.network import NetworkConfig, VelocityNet

SIZE, PIXEL, DOSE = 16, 5.24, 40.0


@pytest.fixture
def particle_set(tmp_path):
    """Six particles: smooth random phase blobs, Poisson counts, the particle table."""
    gen = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    truth = np.stack(
        [
            0.5 * np.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / 10.0)
            for c in gen.uniform(5, 11, size=(6, 2))
        ]
    ).astype(np.float32)
    defocus = gen.uniform(10000, 25000, size=6)
    op = MicroscopeForward(Optics(), (SIZE, SIZE), PIXEL, DOSE, torch.tensor(defocus))
    counts = op.sample(
        torch.as_tensor(truth, dtype=torch.float64), torch.Generator().manual_seed(1)
    )
    table = pd.DataFrame(
        {
            "defocus_u_a": defocus,
            "defocus_v_a": defocus,
            "astigmatism_angle_deg": 0.0,
            "voltage_kv": 300.0,
            "cs_mm": 2.7,
            "amplitude_contrast": 0.07,
            "pixel_size_a": PIXEL,
            "dose_e_per_a2": DOSE,
        }
    )
    paths = {
        "counts": tmp_path / "counts.mrcs",
        "table": tmp_path / "p.csv",
        "truth": tmp_path / "truth.mrcs",
    }
    write_mrc(paths["counts"], counts.numpy().astype(np.float32), PIXEL)
    write_mrc(paths["truth"], truth, PIXEL)
    write_table(paths["table"], table)
    return paths


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    config = NetworkConfig(
        image_size=SIZE,
        block_out_channels=(8, 16),
        attention_levels=(1,),
        attention_head_dim=8,
        norm_num_groups=4,
    )
    net = VelocityNet(config)
    return save_prior_model(tmp_path / "model.pt", config, net.state_dict(), Normaliser(0.2), 0, {})


def args(paths, *extra):
    return ["--counts", str(paths["counts"]), "--table", str(paths["table"]), *extra]


def test_shards_cover_particles_once():
    parts = [shard_indices(10, s, 3) for s in (1, 2, 3)]
    assert np.array_equal(np.concatenate(parts), np.arange(10))
    assert [len(p) for p in parts] == [4, 3, 3]


def test_tuning_candidates_respect_the_budget():
    grid = {"a": [1, 2, 3], "b": [0.1, 0.2]}
    assert len(candidates(grid, 10, 0)) == 6
    few = candidates(grid, 4, 0)
    assert len(few) == 4 and few == candidates(grid, 4, 0)  # seeded
    assert all(c in candidates(grid, 10, 0) for c in few)


def test_sharded_run_equals_one_run_and_gathers(particle_set, model, tmp_path):
    params = json.dumps({"samples": 2, "steps": 4, "shards": 2, "batch_size": 4})
    for shard in (1, 2):
        assert (
            flowem(
                [
                    "flowdps",
                    "--model",
                    str(model),
                    *args(particle_set),
                    "--shard",
                    str(shard),
                    "--out",
                    str(tmp_path / f"s{shard}.npz"),
                    "--params",
                    params,
                    "--seed",
                    "3",
                ]
            )
            == 0
        )
    whole = json.dumps({"samples": 2, "steps": 4, "shards": 1, "batch_size": 6})
    assert (
        flowem(
            [
                "flowdps",
                "--model",
                str(model),
                *args(particle_set),
                "--out",
                str(tmp_path / "all.npz"),
                "--params",
                whole,
                "--seed",
                "3",
            ]
        )
        == 0
    )
    out = tmp_path / "gathered"
    assert (
        flowem(
            [
                "gather-flowdps",
                str(tmp_path / "s2.npz"),
                str(tmp_path / "s1.npz"),
                "--pixel-size",
                str(PIXEL),
                "--outdir",
                str(out),
            ]
        )
        == 0
    )
    mean, voxel = read_mrc(out / "mean.mrcs")
    with np.load(tmp_path / "all.npz") as whole_run:
        np.testing.assert_allclose(mean, whole_run["mean"], atol=1e-5)  # batching-invariant
    assert voxel == pytest.approx(PIXEL)
    table = pd.read_csv(out / "particles.csv")
    assert table["index"].tolist() == list(range(6)) and (table.status == "ok").all()


def test_baseline_and_evaluation_write_the_metrics_schema(particle_set, model, tmp_path):
    flow = tmp_path / "flowdps"
    assert (
        flowem(
            [
                "flowdps",
                "--model",
                str(model),
                *args(particle_set),
                "--out",
                str(tmp_path / "s.npz"),
                "--params",
                '{"samples": 2, "steps": 3}',
            ]
        )
        == 0
    )
    assert (
        flowem(
            [
                "gather-flowdps",
                str(tmp_path / "s.npz"),
                "--pixel-size",
                str(PIXEL),
                "--outdir",
                str(flow),
            ]
        )
        == 0
    )
    assert (
        flowem(
            [
                "baseline",
                "--method",
                "wiener",
                *args(particle_set),
                "--outdir",
                str(tmp_path / "wiener"),
                "--params",
                '{"snr": 2.0}',
            ]
        )
        == 0
    )
    out = tmp_path / "eval"
    assert (
        flowem(
            [
                "evaluate-flowdps",
                *args(particle_set),
                "--truth",
                str(particle_set["truth"]),
                "--method",
                f"flowdps={flow}",
                "--method",
                f"wiener={tmp_path / 'wiener'}",
                "--outdir",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("flowdps", "wiener"):
        assert set(metrics["methods"][name]) >= {"psnr", "ssim", "frc05_A", "frc0143_A", "deviance"}
    assert set(metrics["win_rate"]["wiener"]) >= {"k", "n", "ci_low", "ci_high"}
    assert metrics["win_rate"]["wiener"]["n"] == 6
    assert (out / "reconstructions.png").stat().st_size > 0 and (out / "frc.png").is_file()
    paired = pd.read_csv(out / "comparison.csv")
    assert set(paired.metric) == {"psnr", "ssim", "frc05_A", "frc0143_A", "deviance"}
    assert (paired.wilson_low <= paired.win_rate).all() and (out / "comparison.png").is_file()
    frc_curve = metrics["frc_mean_curve"]["flowdps"]
    assert frc_curve["frc05_A_ci_low"] <= frc_curve["frc05_A"] <= frc_curve["frc05_A_ci_high"]
    # equal budget: 2 samples x 3 steps x 3 likelihood steps; the Wiener filter one pass
    assert metrics["methods"]["flowdps"]["forward_evaluations"] == 2 * 3 * 3
    assert metrics["methods"]["wiener"]["forward_evaluations"] == 1
    budget = pd.read_csv(out / "budget.csv")
    assert budget.method.tolist() == ["flowdps", "wiener"]
    assert budget.psnr_ci_low.le(budget.psnr).all() and budget.psnr.le(budget.psnr_ci_high).all()
    calibration = metrics["calibration"]
    assert calibration["coverage"]["samples"] == 2
    assert 0 <= calibration["coverage_90"] <= 1 and (out / "reliability.png").is_file()
    nominal = [row["nominal"] for row in calibration["coverage"]["levels"]]
    empirical = [row["empirical"] for row in calibration["coverage"]["levels"]]
    assert 0.9 in nominal and empirical == sorted(empirical)  # wider intervals cover more


def test_nan_stack_is_a_clear_error(particle_set, model, tmp_path, capsys):
    counts, _ = read_mrc(particle_set["counts"])
    import mrcfile

    counts[2, 3, 3] = np.nan
    with mrcfile.new(particle_set["counts"], overwrite=True) as mrc:
        mrc.set_data(counts)
    rc = flowem(
        ["flowdps", "--model", str(model), *args(particle_set), "--out", str(tmp_path / "x.npz")]
    )
    assert rc == 1 and "counts.mrcs: data holds 1 non-finite values" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_size_mismatch_with_the_prior_is_a_clear_error(particle_set, tmp_path, capsys):
    config = NetworkConfig(
        image_size=32,
        block_out_channels=(8, 16),
        attention_levels=(1,),
        attention_head_dim=8,
        norm_num_groups=4,
    )
    big = save_prior_model(
        tmp_path / "big.pt", config, VelocityNet(config).state_dict(), Normaliser(0.2), 0, {}
    )
    rc = flowem(
        ["flowdps", "--model", str(big), *args(particle_set), "--out", str(tmp_path / "x.npz")]
    )
    err = capsys.readouterr().err
    assert rc == 1 and "counts.mrcs: images are 16 x 16 px but the prior was trained on 32" in err


def test_one_failing_particle_keeps_the_others(particle_set, model, tmp_path):
    table = pd.read_csv(particle_set["table"])
    table.loc[4, "defocus_u_a"] = np.nan  # this particle's operator yields NaN
    table.to_csv(particle_set["table"], index=False)
    assert (
        flowem(
            [
                "flowdps",
                "--model",
                str(model),
                *args(particle_set),
                "--out",
                str(tmp_path / "s.npz"),
                "--params",
                '{"samples": 2, "steps": 3}',
            ]
        )
        == 0
    )
    with np.load(tmp_path / "s.npz") as out:
        status = out["status"]
        assert status[4].startswith("failed") and (np.delete(status, 4) == "ok").all()
        assert np.isfinite(np.delete(out["mean"], 4, axis=0)).all()


def test_evaluation_without_ground_truth_uses_no_reference_metrics(particle_set, tmp_path):
    assert (
        flowem(
            [
                "baseline",
                "--method",
                "wiener",
                *args(particle_set),
                "--outdir",
                str(tmp_path / "wiener"),
            ]
        )
        == 0
    )
    out = tmp_path / "eval"
    assert (
        flowem(
            [
                "evaluate-flowdps",
                *args(particle_set),
                "--method",
                f"wiener={tmp_path / 'wiener'}",
                "--outdir",
                str(out),
                "--params",
                '{"prior_molecule": "3J9I"}',
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    wiener = metrics["methods"]["wiener"]
    assert wiener["n"] == 6 and wiener["deviance"] > 0
    assert "different molecule" in metrics["note"]


def test_the_inference_envelope_comes_from_the_particle_table_unless_overridden():
    """Simulated particles record their envelope B as RELION's ``rlnCtfBfactor`` column, so
    FlowDPS and the baselines model the same microscope; a run-level B > 0 overrides it."""
    import pandas as pd

    from flowem.flowdps.particles import optics_of

    table = pd.DataFrame(
        {"voltage_kv": [300.0] * 2, "cs_mm": [2.7] * 2, "amplitude_contrast": [0.07] * 2}
    )
    assert optics_of(table).b_envelope_a2 == 0.0
    table["ctf_b_factor_a2"] = [100.0, 100.0]
    assert optics_of(table).b_envelope_a2 == 100.0
    assert optics_of(table, 60.0).b_envelope_a2 == 60.0
