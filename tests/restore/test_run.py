"""The ``restore`` command end to end on a tiny volume with an untrained tiny prior."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flowem.io import write_tiff
from flowem.metrics import NiqeModel, write_niqe_model
from flowem.prior.checkpoint import save_prior_model
from flowem.prior.dataset import Normaliser
from flowem.prior.network import NetworkConfig, VelocityNet
from flowem.prior.velocity import load_velocity
from flowem.restore.run import main

TINY = NetworkConfig(
    image_size=16,
    block_out_channels=(8, 16),
    attention_levels=(1,),
    attention_head_dim=8,
    norm_num_groups=8,
    dropout=0.0,
)


@pytest.fixture
def tiny_model(tmp_path):
    net = VelocityNet(TINY)
    return save_prior_model(tmp_path / "ema.pt", TINY, net.state_dict(), Normaliser(0.5), 1, {})


@pytest.fixture
def niqe_model(tmp_path):
    """A natural-image NIQE model file (the command reads it before computing anything)."""
    return write_niqe_model(tmp_path / "niqe.mat", NiqeModel(np.zeros(36), np.eye(36)))


def test_load_velocity_scales_and_evaluates(tiny_model):
    import torch

    prior = load_velocity(tiny_model)
    assert prior.scale == 0.5 and prior.patch == 16
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    v = prior(x, torch.full((2,), 0.3))
    assert v.shape == x.shape and v.dtype == torch.float64
    assert torch.equal(prior.to_data(prior.to_network(x)), x)


def train_supervised(folder, tif, task: str) -> None:
    """A one-step supervised network for ``task`` at ``folder/<task>/model.pt``."""
    from flowem.restore import supervised

    out = folder / task
    params = {
        "task": task,
        "network": {**TINY.to_dict(), "attention_levels": []},
        "steps": 1,
        "batch_size": 2,
        "train_slices": [0, 1],
    }
    argv = ["--volume", str(tif), "--checkpoint", str(out / "last.pt"), "--model"]
    argv += [str(out / "model.pt"), "--loss-csv", str(out / "loss.csv"), "--loss-plot"]
    assert supervised.main([*argv, str(out / "loss.png"), "--params", json.dumps(params)]) == 0


@pytest.mark.slow  # two runs and two supervised trainings, ~20 s on an idle core
def test_restore_command_writes_the_metrics_schema(tmp_path, tiny_model, niqe_model):
    gen = np.random.default_rng(0)
    volume = gen.integers(0, 256, size=(30, 48, 48), dtype=np.uint8)
    tif = write_tiff(tmp_path / "vol.tif", volume, (50.0, 4.0, 4.0))
    for task in ("sr3", "axial"):
        train_supervised(tmp_path / "supervised", tif, task)
    params = {
        "tasks": ["sr3", "axial"],
        "test_slices": [24, 25],
        "crop": 16,
        "crop_grid": 2,
        "samplers": ["dc", "si"],
        "sampler": {"method": "dc", "steps": 3, "dps_steps": 6},
        "samples_per_image": 2,
        "tune": {"dc": {"lr": [0.5, 2.0]}, "si": {"lr": [0.1, 1.0]}, "dps": {"dps_lr": [0.1, 1]}},
        "diffusion_tasks": ["sr3"],
        "diffusion_crops": 4,  # DPS on 4 of the 8 test crops, paired with the flow row on those
        "speed_task": "sr3",
        "niqe_slices": [0, 1],
        "full_slice_task": "sr2",
        "axial_volume_factor": 2,
        "axial_volume_crop": 16,
    }
    out = tmp_path / "restore"
    argv = [
        "--model",
        str(tiny_model),
        "--outdir",
        str(out),
        "--volume",
        str(tif),
        "--threads",
        "1",
        "--supervised",
        *(str(tmp_path / "supervised" / task / "model.pt") for task in ("sr3", "axial")),
        "--diffusion-model",
        str(tiny_model),  # a flow checkpoint stands in for the diffusion prior
        "--niqe-model",
        str(niqe_model),
    ]
    assert main([*argv, "--params", json.dumps(params)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"tasks", "flow_row", "speed", "ground_truth"}
    assert set(metrics["tasks"]) == {"sr3", "axial"}
    # the row naming contract: flow_<sampler>, supervised, diffusion_dps, the baselines
    rows = {"flow_dc", "flow_si", "supervised"}
    assert set(metrics["tasks"]["sr3"]) == rows | {"diffusion_dps", "bicubic"}
    assert set(metrics["tasks"]["axial"]) == rows | {"linear", "cubic"}  # not a diffusion task
    for task, methods in metrics["tasks"].items():
        reference = metrics["flow_row"][task]
        assert reference in ("flow_dc", "flow_si")
        for method, scores in methods.items():
            assert scores["n"] == (4 if method == "diffusion_dps" else 8)  # 2 x 2 x 2 slices
            low, high = scores["ci"]["psnr"]
            assert low < scores["psnr"] < high
            assert ("paired" in scores) == (method != reference)
    for scores in metrics["tasks"]["sr3"].values():
        # 16 px crops: too small for NIQE's 96 px blocks even as a mosaic, so no niqe keys
        assert {"psnr", "ssim", "frc_nm", "decorrelation_nm", "ci", "ci_slices"} <= set(scores)
        assert "niqe" not in scores
        assert np.isfinite([scores[k] for k in ("psnr", "ssim", "frc_nm")]).all()
    per_crop = pd.read_csv(out / "metrics_per_crop.csv")
    assert len(per_crop) == 8 * 4 + 4 + 8 * 5  # sr3: 4 rows and DPS, axial: 5 rows
    dps = per_crop[per_crop["method"] == "diffusion_dps"]
    assert set(dps["slice"]) == {24, 25} and dps["crop"].is_unique
    assert set(per_crop["slice"]) == {24, 25}
    table = pd.read_csv(out / "metrics.csv")
    sr3_si = table[(table["task"] == "sr3") & (table["method"] == "flow_si")].iloc[0]
    assert sr3_si["psnr_ci_low"] == metrics["tasks"]["sr3"]["flow_si"]["ci"]["psnr"][0]
    speed = metrics["speed"]  # from the sr3 rows: the flow row against DPS on the diffusion prior
    assert {"flow_seconds", "diffusion_seconds", "psnr_flow", "psnr_diffusion"} <= set(speed)
    assert speed["speedup"] == pytest.approx(speed["diffusion_seconds"] / speed["flow_seconds"])
    assert speed["psnr_diffusion"] == metrics["tasks"]["sr3"]["diffusion_dps"]["psnr"]
    assert speed["n_patches"] == 4  # both arms on the crops DPS restored
    paired = metrics["tasks"]["sr3"]["diffusion_dps"]["paired"]["psnr"]["mean"]
    assert speed["flow_row"] == metrics["flow_row"]["sr3"]
    assert speed["diffusion_arm"] == "diffusion_prior"
    assert speed["psnr_diffusion"] - speed["psnr_flow"] == pytest.approx(paired)
    for name in ("sr3", "axial", "full_slice", "axial_volume"):
        assert (out / "figures" / f"{name}.png").is_file()
    extras = json.loads((out / "extras.json").read_text())
    assert extras["axial_volume"]["shape"] == [3, 16, 16]  # (2 - 1) * 2 + 1 planes
    norm = json.loads((out / "normalisation.json").read_text())  # each test measurement's
    assert (norm["method"], norm["polarity"], set(norm["tasks"])) == (
        "fixed",
        "dark",
        {"sr3", "axial"},
    )
    assert [record["crop"] for record in norm["tasks"]["sr3"]] == list(range(8))
    fixed = {(r["centre"], r["spread"], r["sign"]) for r in norm["tasks"]["axial"]}
    assert fixed == {(0.0, 1.0, 1)}  # the fixed scale of float data: the data as they are
    chosen = json.loads((out / "baseline_params.json").read_text())
    assert "bicubic" in chosen["sr3"]
    # each sampler is tuned on validation slices: every grid point tried, the best kept
    flow = chosen["sr3"]["flow_si"]
    assert [trial["params"]["lr"] for trial in flow["trials"]] == [0.1, 1.0]
    assert flow["val_psnr"] == max(trial["val_psnr"] for trial in flow["trials"])
    assert len(chosen["sr3"]["diffusion_dps"]["trials"]) == len(flow["trials"])
    assert not (out / "niqe_em_model.mat").exists()  # 48 px slices: no 96 px NIQE block
    # same config and seed -> same numbers (CPU)
    again = tmp_path / "again"
    rerun = {**params, "speed": False, "full_slice_task": None, "axial_volume_factor": 0}
    assert main([*argv[:3], str(again), *argv[4:], "--params", json.dumps(rerun)]) == 0
    assert json.loads((again / "metrics.json").read_text())["tasks"] == metrics["tasks"]


def test_a_missing_niqe_model_stops_the_command_before_any_work(tmp_path, tiny_model, capsys):
    tif = write_tiff(tmp_path / "vol.tif", np.zeros((30, 48, 48), np.uint8), (50.0, 4.0, 4.0))
    out = tmp_path / "out"
    argv = ["--model", str(tiny_model), "--outdir", str(out), "--volume", str(tif)]
    assert main([*argv, "--niqe-model", str(tmp_path / "nowhere" / "niqe.mat")]) != 0
    assert "nowhere/niqe.mat: no such NIQE model file" in capsys.readouterr().err
    assert not out.exists() or not any(out.rglob("*"))  # no figure, no metrics


def test_missing_rivals_and_grids_are_named(tmp_path, tiny_model, niqe_model, capsys):
    tif = write_tiff(tmp_path / "vol.tif", np.zeros((30, 48, 48), np.uint8), (50.0, 4.0, 4.0))
    argv = ["--model", str(tiny_model), "--outdir", str(tmp_path / "out"), "--volume", str(tif)]
    argv += ["--niqe-model", str(niqe_model)]
    argv += ["--tasks", "sr2", "--supervised", str(tmp_path / "none" / "model.pt")]
    assert main(argv) != 0
    assert "none/model.pt" in capsys.readouterr().err
    params = {"tune": {"dc": {"lr": [1.0]}}, "samplers": ["dc"]}
    argv = ["--model", str(tiny_model), "--outdir", str(tmp_path / "out"), "--volume", str(tif)]
    argv += ["--niqe-model", str(niqe_model)]
    argv += ["--diffusion-model", str(tiny_model), "--params", json.dumps(params)]
    assert main(argv) != 0
    assert "no dps grid" in capsys.readouterr().err
