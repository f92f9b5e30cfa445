"""The ``restore`` command end to end on a tiny volume with an untrained tiny prior."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flowem.io import write_tiff
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


def test_load_velocity_scales_and_evaluates(tiny_model):
    import torch

    prior = load_velocity(tiny_model)
    assert prior.scale == 0.5 and prior.patch == 16
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    v = prior(x, torch.full((2,), 0.3))
    assert v.shape == x.shape and v.dtype == torch.float64
    assert torch.equal(prior.to_data(prior.to_network(x)), x)


def test_restore_command_writes_the_metrics_schema(tmp_path, tiny_model):
    gen = np.random.default_rng(0)
    volume = gen.integers(0, 256, size=(30, 48, 48), dtype=np.uint8)
    tif = write_tiff(tmp_path / "vol.tif", volume, (50.0, 4.0, 4.0))
    params = {
        "tasks": ["sr3", "axial"],
        "test_slices": [24, 25],
        "crop": 24,
        "sampler": {"method": "dc", "steps": 3, "dps_steps": 6},
        "samples_per_image": 2,
        "tune": {"lr": [0.5, 2.0]},
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
    ]
    assert main([*argv, "--params", json.dumps(params)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"tasks", "speed", "ground_truth"}
    assert set(metrics["tasks"]) == {"sr3", "axial"}
    assert set(metrics["tasks"]["sr3"]) == {"flow", "bicubic"}
    assert set(metrics["tasks"]["axial"]) == {"flow", "linear", "cubic"}
    for scores in metrics["tasks"]["sr3"].values():
        # 24 px crops: too small for NIQE's 96 px blocks even as a mosaic, so no niqe keys
        assert set(scores) == {"psnr", "ssim", "frc_nm", "decorrelation_nm"}
        assert np.isfinite([scores[k] for k in ("psnr", "ssim", "frc_nm")]).all()
    speed = metrics["speed"]
    assert {"flow_seconds", "diffusion_seconds", "psnr_flow", "psnr_diffusion"} <= set(speed)
    assert speed["speedup"] == pytest.approx(speed["diffusion_seconds"] / speed["flow_seconds"])
    for name in ("sr3", "axial", "full_slice", "axial_volume"):
        assert (out / "figures" / f"{name}.png").is_file()
    extras = json.loads((out / "extras.json").read_text())
    assert extras["axial_volume"]["shape"] == [3, 16, 16]  # (2 - 1) * 2 + 1 planes
    chosen = json.loads((out / "baseline_params.json").read_text())
    assert "bicubic" in chosen["sr3"]
    # the flow sampler is tuned on validation slices: every grid point tried, the best kept
    flow = chosen["sr3"]["flow"]
    assert [trial["params"]["lr"] for trial in flow["trials"]] == [0.5, 2.0]
    assert flow["val_psnr"] == max(trial["val_psnr"] for trial in flow["trials"])
    assert not (out / "niqe_em_model.mat").exists()  # 48 px slices: no 96 px NIQE block
    # same config and seed -> same numbers (CPU)
    again = tmp_path / "again"
    rerun = {**params, "speed": False, "full_slice_task": None, "axial_volume_factor": 0}
    assert (
        main(
            [
                "--model",
                str(tiny_model),
                "--outdir",
                str(again),
                "--volume",
                str(tif),
                "--params",
                json.dumps(rerun),
            ]
        )
        == 0
    )
    assert json.loads((again / "metrics.json").read_text())["tasks"] == metrics["tasks"]
