"""train-prior and sample-prior end to end on a toy distribution with a tiny U-Net."""

import json
import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from tests.prior.prior_toys import TINY_NETWORK, ddp_worker, train_argv

from flowem.io import read_mrc
from flowem.prior import sample, train
from flowem.prior.checkpoint import TRAINING_KIND, load_checkpoint, load_prior_model
from flowem.prior.quality import energy_distance_ratio

QUICK = {
    "network": TINY_NETWORK,
    "batch_size": 8,
    "lr": 1e-3,
    "warmup_steps": 2,
    "log_every": 1,
    "checkpoint_every": 3,
    "ema_decay": 0.9,
}


def _state(outdir):
    return load_checkpoint(outdir / "checkpoints" / "last.pt", TRAINING_KIND)


def _assert_same_tensors(a, b, what):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), what
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for key in a:
            _assert_same_tensors(a[key], b[key], f"{what}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_tensors(x, y, f"{what}[{i}]")
    else:
        assert a == b or (a != a and b != b), what  # NaN == NaN for logged val gaps


@pytest.mark.slow
def test_loss_falls_and_samples_match_the_toy_distribution(tmp_path, toy_stacks):
    train_path, val_path = toy_stacks
    params = {
        **QUICK,
        "batch_size": 32,
        "steps": 300,
        "warmup_steps": 20,
        "log_every": 25,
        "checkpoint_every": 100,
        "ema_decay": 0.99,
    }
    assert train.main(train_argv(tmp_path, train_path, val_path, params)) == 0
    log = pd.read_csv(tmp_path / "loss.csv")
    assert list(log.columns) == ["step", "train_loss", "grad_norm", "lr", "val_loss"]
    assert log.train_loss.iloc[-1] < 0.5 * log.train_loss.iloc[0]
    val = log.val_loss.dropna()
    assert len(val) == 3 and val.iloc[-1] < val.iloc[0]
    assert (tmp_path / "loss.png").stat().st_size > 0

    heldout, _ = read_mrc(val_path)
    # Threshold 2 (twice the held-out noise floor): independent draws of the toy distribution
    # score 0.5-1.0, a Gaussian with the held-out per-pixel mean and std scores ~7 (checked below).
    gen = np.random.default_rng(0)
    moment_matched = heldout.mean(0) + heldout.std(0) * gen.standard_normal((128, 8, 8))
    assert energy_distance_ratio(moment_matched, heldout, seed=0).energy_distance_ratio > 2.0
    for solver in ("euler", "dopri5"):
        out = tmp_path / solver
        argv = ["--model", str(tmp_path / "ema.pt"), "--heldout", str(val_path)]
        argv += ["--samples", str(out / "samples.mrcs"), "--montage", str(out / "samples.png")]
        argv += ["--metrics", str(out / "metrics.json"), "--seed", "3"]
        argv += ["--params", json.dumps({"n_samples": 128, "solver": solver, "steps": 20})]
        assert sample.main(argv) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["energy_distance_ratio"] < 2.0, (solver, metrics)
        assert metrics["images"]["heldout_half_vs_half"] > 0
        samples, voxel_size = read_mrc(out / "samples.mrcs")
        assert samples.shape == (128, 8, 8) and voxel_size == pytest.approx(2.0)


def test_resume_continues_bit_for_bit(tmp_path, toy_stacks):
    train_path, val_path = toy_stacks
    params = {**QUICK, "network": {**TINY_NETWORK, "dropout": 0.1}}  # resume must restore RNG
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train.main(train_argv(whole, train_path, val_path, {**params, "steps": 6})) == 0
    assert train.main(train_argv(split, train_path, val_path, {**params, "steps": 3})) == 0
    assert _state(split)["step"] == 3
    assert train.main(train_argv(split, train_path, val_path, {**params, "steps": 6})) == 0
    a, b = _state(whole), _state(split)
    for key in ("step", "model", "ema", "optimizer", "scheduler", "rng", "loss_log", "data_scale"):
        _assert_same_tensors(a[key], b[key], key)
    assert not torch.equal(a["model"]["unet.conv_in.weight"], _initial_conv(params))


def _initial_conv(params):
    from flowem.prior.network import NetworkConfig, VelocityNet
    from flowem.runtime import seed_everything

    seed_everything(0)
    return VelocityNet(NetworkConfig.from_dict(params["network"])).unet.conv_in.weight.detach()


def test_non_finite_loss_stops_clearly_and_keeps_last_checkpoint(
    tmp_path, toy_stacks, monkeypatch, capsys
):
    train_path, val_path = toy_stacks
    real_loss, calls = train.cfm_loss, []

    def poisoned(net, x1, x0, t):
        calls.extend([1] if net.training else [])  # count training steps, not validation
        loss = real_loss(net, x1, x0, t)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(train, "cfm_loss", poisoned)
    argv = train_argv(tmp_path, train_path, val_path, {**QUICK, "steps": 6, "checkpoint_every": 2})
    assert train.main(argv) == 1
    message = capsys.readouterr().err
    assert "non-finite loss" in message and "at step 5" in message
    assert "last.pt (step 4) is kept" in message
    saved = _state(tmp_path)
    assert saved["step"] == 4
    assert all(torch.isfinite(p).all() for p in saved["model"].values())
    assert not (tmp_path / "ema.pt").exists()

    monkeypatch.setattr(train, "cfm_loss", real_loss)  # the rerun resumes from step 4
    assert train.main(argv) == 0
    assert _state(tmp_path)["step"] == 6

    # inference loads the EMA weights, not the raw ones
    net, normaliser, _ = load_prior_model(tmp_path / "ema.pt")
    final = _state(tmp_path)
    for name, weight in net.state_dict().items():
        assert torch.equal(weight, final["ema"][f"module.{name}"]), name
    assert not torch.equal(net.unet.conv_in.weight, final["model"]["unet.conv_in.weight"])
    assert normaliser.scale == pytest.approx(final["data_scale"])


def test_mismatched_architecture_fails_with_a_clear_message(tmp_path, toy_stacks, capsys):
    train_path, _ = toy_stacks
    assert train.main(train_argv(tmp_path, train_path, None, {**QUICK, "steps": 1})) == 0
    other = {**QUICK, "steps": 2, "network": {**TINY_NETWORK, "block_out_channels": [8, 16]}}
    assert train.main(train_argv(tmp_path, train_path, None, other)) == 1
    message = capsys.readouterr().err
    assert "different network architecture" in message
    assert "block_out_channels (checkpoint [16, 32], config [8, 16])" in message


def test_a_space_to_depth_prior_learns_and_reloads_with_its_stem(tmp_path, toy_stacks):
    train_path, val_path = toy_stacks
    network = {**TINY_NETWORK, "space_to_depth": 2}
    params = {**QUICK, "network": network, "steps": 60, "batch_size": 16, "log_every": 10}
    params |= {"checkpoint_every": 60}
    assert train.main(train_argv(tmp_path, train_path, val_path, params)) == 0
    log = pd.read_csv(tmp_path / "loss.csv")
    assert log.train_loss.iloc[-1] < 0.7 * log.train_loss.iloc[0]
    net, _, payload = load_prior_model(tmp_path / "ema.pt", torch.device("cpu"))
    assert net.config.space_to_depth == 2 and payload["step"] == 60
    assert net(torch.zeros(2, 1, 8, 8), torch.zeros(2)).shape == (2, 1, 8, 8)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_on_the_full_batch(tmp_path, toy_stacks):
    train_path, _ = toy_stacks
    params = {**QUICK, "steps": 2, "checkpoint_every": 2, "warmup_steps": 0}
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert train.main(train_argv(single, train_path, None, params)) == 0
    argv = train_argv(ddp, train_path, None, params)
    mp.spawn(ddp_worker, args=(2, _free_port(), argv), nprocs=2, join=True)
    a, b = _state(single), _state(ddp)
    assert b["config"]["world_size"] == 2
    # Same gradients: Adam's moment estimates agree to float32 rounding (sums run in another
    # order: two half-batch means averaged by all-reduce instead of one mean).
    # The tolerance is relative to the largest moment in the model, since some weights have a
    # true gradient of zero and only rounding noise (see below).
    for name in ("exp_avg", "exp_avg_sq"):
        moments_a = [m[name] for m in a["optimizer"]["state"].values()]
        moments_b = [m[name] for m in b["optimizer"]["state"].values()]
        scale = max(m.abs().max().item() for m in moments_a)
        for x, y in zip(moments_a, moments_b, strict=True):
            torch.testing.assert_close(y, x, rtol=0, atol=1e-5 * scale)
    # Same updates: Adam moves a weight by ~lr per step, so compare on that scale. Not tighter:
    # weights with a zero true gradient (attention key biases, which softmax ignores) get
    # rounding-noise gradients that Adam's normalisation blows up to a few percent of lr.
    lr = params["lr"]
    for name, weight in a["model"].items():
        torch.testing.assert_close(b["model"][name], weight, atol=0.05 * lr, rtol=0, msg=name)
    assert not torch.allclose(a["model"]["unet.conv_in.weight"], _initial_conv(params), atol=lr)
    np.testing.assert_allclose(a["loss_log"]["train_loss"], b["loss_log"]["train_loss"], rtol=1e-5)
