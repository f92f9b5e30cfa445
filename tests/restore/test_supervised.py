"""train-supervised: the supervised rival of the EM prior, on a synthetic smooth volume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.ndimage import gaussian_filter

from flowem.io import write_tiff
from flowem.metrics import psnr
from flowem.prior.checkpoint import load_checkpoint
from flowem.restore import supervised
from flowem.restore.supervised import (
    MODEL_KIND,
    TRAINING_KIND,
    load_supervised,
    restoration_network,
    to_image_grid,
)
from flowem.restore.tasks import DegradationSettings, make_task

TINY = {
    "image_size": 16,
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "attention_levels": [1],
    "attention_head_dim": 8,
    "norm_num_groups": 8,
    "dropout": 0.0,
}
QUICK = {"network": TINY, "batch_size": 8, "lr": 2e-3, "warmup_steps": 5, "ema_decay": 0.9,
         "log_every": 5, "checkpoint_every": 5, "train_slices": [0, 1, 2, 3]}  # fmt: skip


def smooth_volume(depth: int, size: int, seed: int) -> np.ndarray:
    """Smooth random slices (Gaussian-filtered noise, sigma 2 px) as uint8 grey levels."""
    noise = np.random.default_rng(seed).standard_normal((depth, size, size))
    smooth = np.stack([gaussian_filter(s, 2.0, mode="wrap") for s in noise])
    smooth = smooth / np.abs(smooth).max()
    return np.round(127.5 + 110 * smooth).astype(np.uint8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return write_tiff(tmp_path / "volume.tif", smooth_volume(6, 64, seed=0), (50.0, 4.0, 4.0))


def argv(outdir: Path, volume: Path, params: dict, seed: int = 0) -> list[str]:
    out = ["--volume", str(volume), "--checkpoint", str(outdir / "checkpoint" / "last.pt")]
    out += ["--model", str(outdir / "model.pt"), "--loss-csv", str(outdir / "loss.csv")]
    out += ["--loss-plot", str(outdir / "loss.png"), "--params", json.dumps(params)]
    return [*out, "--seed", str(seed)]


def test_a_briefly_trained_denoiser_beats_its_noisy_input(tmp_path, volume):
    params = {**QUICK, "task": "denoise", "steps": 40, "log_every": 10, "checkpoint_every": 40}
    assert supervised.main(argv(tmp_path, volume, params)) == 0
    log = pd.read_csv(tmp_path / "loss.csv")
    assert list(log.columns) == ["step", "train_loss", "grad_norm", "lr"]
    assert log.train_loss.iloc[-1] < 0.5 * log.train_loss.iloc[0]
    restorer = load_supervised(tmp_path / "model.pt")
    heldout = smooth_volume(4, 64, seed=9).astype(np.float32) / 127.5 - 1.0  # never trained on
    task = make_task("denoise", DegradationSettings())
    y = task.measure(torch.from_numpy(heldout)[:, None], torch.Generator().manual_seed(1))
    restored = restorer.restore(y, (64, 64))  # 64 px: larger than the 16 px training patches
    noisy = np.mean([psnr(x, m, 2.0) for x, m in zip(heldout, y[:, 0].numpy(), strict=True)])
    ours = np.mean([psnr(x, r, 2.0) for x, r in zip(heldout, restored, strict=True)])
    assert ours > noisy + 5.0, (ours, noisy)  # measured: 20.0 -> 29.9 dB


@pytest.mark.parametrize(
    ("name", "measured", "shape"),
    [
        ("sr4", (16, 16), (64, 64)),
        ("sr3", (22, 22), (64, 64)),
        ("axial", (5, 20), (17, 20)),
        ("deblur", (24, 40), (24, 40)),
    ],
)
def test_restore_keeps_shape_and_data_units(name, measured, shape):
    """With a zero residual the restoration is the measurement on the image grid, in data
    units, whatever the data scale; any size works (odd sizes are padded)."""
    net = supervised.VelocityNet(restoration_network(supervised.NetworkConfig(**TINY)))
    torch.nn.init.zeros_(net.unet.conv_out.weight)
    torch.nn.init.zeros_(net.unet.conv_out.bias)
    restorer = supervised.SupervisedRestorer(name, DegradationSettings(), net.eval(), scale=0.37)
    y = torch.rand((3, 1, *measured)) * 2 - 1
    out = restorer.restore(y, shape)
    assert isinstance(out, np.ndarray) and out.shape == (3, *shape)
    grid = to_image_grid(make_task(name, DegradationSettings()), y, shape)[:, 0].numpy()
    np.testing.assert_allclose(out, grid, atol=1e-5)


def test_image_grid_interpolates_like_the_baselines():
    axial = make_task("axial", DegradationSettings(axial_factor=4))
    y = torch.randn(2, 1, 5, 7)
    up = to_image_grid(axial, y, (19, 7))
    assert torch.equal(up[..., ::4, :][..., :5, :], y)  # measured rows kept exactly
    torch.testing.assert_close(up[..., 2, :], (y[..., 0, :] + y[..., 1, :]) / 2)
    torch.testing.assert_close(up[..., 17:, :], y[..., 4:, :].expand(-1, -1, 2, -1))  # held
    sr = make_task("sr3", DegradationSettings())
    flat = to_image_grid(sr, torch.full((1, 1, 4, 4), 0.3), (11, 11))
    torch.testing.assert_close(flat, torch.full((1, 1, 11, 11), 0.3))


def test_model_round_trips_and_resume_continues_from_the_checkpoint_step(tmp_path, volume):
    params = {**QUICK, "task": "sr2", "steps": 6, "checkpoint_every": 3}
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert supervised.main(argv(whole, volume, params)) == 0
    assert supervised.main(argv(split, volume, {**params, "steps": 3})) == 0
    assert load_checkpoint(split / "checkpoint" / "last.pt", TRAINING_KIND)["step"] == 3
    assert supervised.main(argv(split, volume, params)) == 0  # resumes at step 3
    a = load_checkpoint(whole / "model.pt", MODEL_KIND)
    b = load_checkpoint(split / "model.pt", MODEL_KIND)
    assert a["step"] == b["step"] == 6
    for key, value in a["weights"].items():
        assert torch.equal(value, b["weights"][key]), key
    log_a, log_b = pd.read_csv(whole / "loss.csv"), pd.read_csv(split / "loss.csv")
    pd.testing.assert_frame_equal(log_a, log_b)
    restorer = load_supervised(whole / "model.pt")
    assert restorer.task == "sr2" and restorer.scale == pytest.approx(a["data_scale"])
    for key, value in restorer.net.state_dict().items():
        assert torch.equal(value, a["weights"][key]), key
    y = torch.rand(2, 1, 16, 16)
    np.testing.assert_array_equal(restorer.restore(y, (32, 32)), restorer.restore(y, (32, 32)))


def test_bad_task_is_named(tmp_path, volume, capsys):
    assert supervised.main(argv(tmp_path, volume, {**QUICK, "task": "sr5"})) != 0
    assert "supervised.task" in capsys.readouterr().err
