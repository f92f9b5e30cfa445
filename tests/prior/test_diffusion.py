"""The diffusion rival: cosine VP schedule, its time map onto the linear path, the epsilon model
read as a velocity, and training / checkpoints with ``objective: diffusion``."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from tests.prior.prior_toys import TINY_NETWORK, train_argv

from flowem.prior import train
from flowem.prior.analytic import GaussianPriorVelocity
from flowem.prior.checkpoint import MODEL_KIND, TRAINING_KIND, load_checkpoint
from flowem.prior.dataset import MrcImageStack, Normaliser, validation_batch
from flowem.prior.diffusion import (
    T_MIN,
    alpha_sigma,
    epsilon_loss,
    noised,
    velocity_from_epsilon,
    vp_time,
)
from flowem.prior.network import NetworkConfig, VelocityNet
from flowem.prior.velocity import DiffusionVelocity, PriorVelocity, load_velocity
from flowem.runtime import seed_everything

QUICK = {"network": TINY_NETWORK, "objective": "diffusion", "batch_size": 16, "lr": 2e-3,
         "warmup_steps": 5, "log_every": 10, "checkpoint_every": 10, "ema_decay": 0.9}  # fmt: skip


class GaussianEpsilon:
    """The optimal noise predictor of ``x ~ N(m, c^2)`` on the VP path: with
    ``x_s = a x + sigma eps``, ``E[eps | x_s] = sigma (x_s - a m) / (a^2 c^2 + sigma^2)``."""

    def __init__(self, mean: float, std: float) -> None:
        self.mean, self.std = mean, std

    def __call__(self, x_s: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        alpha, sigma = (v.to(x_s.dtype).reshape(-1, 1, 1) for v in alpha_sigma(s))
        return sigma * (x_s - alpha * self.mean) / (alpha**2 * self.std**2 + sigma**2)


@pytest.mark.parametrize("t", [0.02, 0.2, 0.5, 0.8, 0.97])
def test_analytic_epsilon_gives_the_analytic_linear_path_velocity(t):
    mean, std = 0.7, 0.4
    x = torch.randn(4, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    times = torch.full((4,), t, dtype=torch.float64)
    ours = velocity_from_epsilon(GaussianEpsilon(mean, std), x, times)
    exact = GaussianPriorVelocity(mean, std)(x, times)
    torch.testing.assert_close(ours, exact, rtol=1e-9, atol=1e-9)


def test_time_map_is_monotone_hits_the_endpoints_and_matches_the_signal_fraction():
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    s = vp_time(t)
    assert s[0].item() == pytest.approx(1.0, abs=1e-12)
    assert s[-1].item() == pytest.approx(0.0, abs=1e-12)
    assert (s.diff() < 0).all()  # strictly decreasing: more signal, earlier VP time
    alpha, sigma = alpha_sigma(s)
    torch.testing.assert_close(alpha / (alpha + sigma), t, rtol=0, atol=1e-12)
    torch.testing.assert_close(alpha**2 + sigma**2, torch.ones_like(t))
    a0, s0 = alpha_sigma(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert a0.tolist() == pytest.approx([1.0, 0.0], abs=1e-12)
    assert s0.tolist() == pytest.approx([0.0, 1.0], abs=1e-12)


def test_vp_point_is_the_scaled_linear_path_point():
    """``x_s = (alpha + sigma) x_t``: the identity the adapter relies on."""
    x1, eps = torch.randn(3, 5, 5), torch.randn(3, 5, 5)
    t = torch.tensor([0.1, 0.5, 0.9])
    s = vp_time(t).float()
    alpha, sigma = alpha_sigma(s)
    x_t = (1 - t.reshape(-1, 1, 1)) * eps + t.reshape(-1, 1, 1) * x1
    scale = (alpha + sigma).float().reshape(-1, 1, 1)
    torch.testing.assert_close(noised(x1, eps, s), scale * x_t, rtol=1e-5, atol=1e-5)


def test_adapter_floors_time_and_passes_gradients_for_dps():
    x = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    v = velocity_from_epsilon(GaussianEpsilon(0.5, 2.0), x, torch.zeros(2))
    exact = GaussianPriorVelocity(0.5, 2.0)(x.detach(), torch.full((2,), T_MIN))
    torch.testing.assert_close(v.detach(), exact)
    v.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def _untrained_epsilon_loss(val_path, scale, network: dict) -> tuple[float, object]:
    seed_everything(0)  # the training run's initial weights
    net = VelocityNet(NetworkConfig.from_dict(network)).eval()
    batch = validation_batch(MrcImageStack(val_path), Normaliser(scale), 64, 0)
    with torch.no_grad():
        return float(epsilon_loss(net, batch.x1, batch.x0, batch.t)), batch


def test_diffusion_training_lowers_the_heldout_epsilon_loss(tmp_path, toy_stacks):
    train_path, val_path = toy_stacks
    params = {**QUICK, "steps": 40, "checkpoint_every": 20, "batch_size": 8}
    assert train.main(train_argv(tmp_path, train_path, val_path, params)) == 0
    velocity = load_velocity(tmp_path / "ema.pt")
    assert isinstance(velocity, DiffusionVelocity)
    before, batch = _untrained_epsilon_loss(val_path, velocity.scale, TINY_NETWORK)
    with torch.no_grad():
        after = float(epsilon_loss(velocity.net, batch.x1, batch.x0, batch.t))
    assert after < 0.5 * before, (before, after)
    logged = pd.read_csv(tmp_path / "loss.csv").val_loss.dropna()
    assert logged.iloc[-1] == pytest.approx(after, rel=1e-4)  # the logged val loss is this one
    assert logged.iloc[-1] < logged.iloc[0]


def test_diffusion_checkpoint_round_trips_and_resumes(tmp_path, toy_stacks):
    train_path, val_path = toy_stacks
    params = {**QUICK, "network": {**TINY_NETWORK, "dropout": 0.1}, "checkpoint_every": 3}
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train.main(train_argv(whole, train_path, val_path, {**params, "steps": 6})) == 0
    assert train.main(train_argv(split, train_path, val_path, {**params, "steps": 3})) == 0
    assert train.main(train_argv(split, train_path, val_path, {**params, "steps": 6})) == 0
    a = load_checkpoint(whole / "ema.pt", MODEL_KIND)
    b = load_checkpoint(split / "ema.pt", MODEL_KIND)
    assert a["objective"] == b["objective"] == "diffusion" and a["step"] == b["step"] == 6
    for key, value in a["weights"].items():
        assert torch.equal(value, b["weights"][key]), key
    velocity = load_velocity(whole / "ema.pt")
    for key, value in velocity.net.state_dict().items():
        assert torch.equal(value, a["weights"][key]), key
    x, t = torch.randn(2, 8, 8), torch.tensor([0.3, 0.9])
    expected = velocity_from_epsilon(PriorVelocity.network_output.__get__(velocity), x, t)
    torch.testing.assert_close(velocity(x, t), expected)
    assert not torch.allclose(velocity(x, t), velocity.network_output(x, t))

    flow = {**params, "objective": "flow", "steps": 9}  # resuming under the other objective
    assert train.main(train_argv(split, train_path, val_path, flow)) == 1
    assert load_checkpoint(split / "checkpoints" / "last.pt", TRAINING_KIND)["step"] == 6


def test_a_flow_model_still_loads_as_a_flow_velocity(tmp_path, toy_stacks):
    train_path, _ = toy_stacks
    params = {**QUICK, "objective": "flow", "steps": 1}
    assert train.main(train_argv(tmp_path, train_path, None, params)) == 0
    velocity = load_velocity(tmp_path / "ema.pt")
    assert type(velocity) is PriorVelocity
    x, t = torch.randn(2, 8, 8), torch.tensor([0.3, 0.9])
    torch.testing.assert_close(velocity(x, t), velocity.network_output(x, t))
