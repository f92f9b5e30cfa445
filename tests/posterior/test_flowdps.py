"""FlowDPS: prior sampling without data, the truth with an all-knowing prior, exact gradients."""

from __future__ import annotations

import itertools

import torch

from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward
from flowem.posterior import FlowDPSSettings, flowdps_sample, summarise_samples, time_grid
from flowem.posterior.data_terms import NegativeLogLikelihood
from flowem.posterior.likelihood import poisson_deviance, poisson_nll
from flowem.prior.analytic import GaussianPriorVelocity
from flowem.prior.path import times
from flowem.runtime import torch_generator

H = 16


def blobs(count: int = 2) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(H), indexing="ij")
    maps = []
    for i in range(count):
        cy, cx = 6 + 2 * i, 8 - i
        maps.append(0.6 * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0))
    return torch.stack(maps).double()


def operator(count: int = 2) -> MicroscopeForward:
    defocus = torch.linspace(12000.0, 20000.0, count)
    return MicroscopeForward(Optics(), (H, H), 5.24, 20.0, defocus)


def gens(count: int, seed: int = 0) -> list[torch.Generator]:
    return [torch_generator(seed, i) for i in range(count)]


def gaussian_velocity(mean: float, std: float) -> GaussianPriorVelocity:
    """Exact velocity of the linear path for data ~ N(mean, std^2 I)."""
    return GaussianPriorVelocity(mean, std)


def test_time_grid_ends_and_shift():
    grid = time_grid(10)
    assert grid[0] == 0 and grid[-1] == 1 and torch.all(torch.diff(grid) > 0)
    shifted = time_grid(10, shift=3.0)
    assert shifted[0] == 0 and shifted[-1] == 1
    assert shifted[5] < grid[5]  # more steps spent near the noise end


def test_zero_data_weight_is_euler_prior_sampling():
    velocity = gaussian_velocity(0.3, 0.5)
    settings = FlowDPSSettings(steps=20, step_size=0.0, stochasticity=0.0)
    y = torch.zeros(3, H, H, dtype=torch.float64)
    out = flowdps_sample(velocity, operator(3), y, gens(3), settings)
    x = torch.stack([torch.randn(H, H, generator=g) for g in gens(3)]).double()
    grid = time_grid(20).tolist()
    for t, t_next in itertools.pairwise(grid):
        x = x + (t_next - t) * velocity(x, times(t, x))
    torch.testing.assert_close(out, x)


def test_zero_data_weight_samples_the_prior_distribution():
    velocity = gaussian_velocity(0.3, 0.5)
    settings = FlowDPSSettings(steps=40, step_size=0.0, stochasticity=0.0)
    y = torch.zeros(64, H, H, dtype=torch.float64)
    out = flowdps_sample(velocity, operator(64), y, gens(64), settings)
    assert abs(out.mean().item() - 0.3) < 0.02
    assert abs(out.std().item() - 0.5) < 0.03


def test_all_knowing_prior_returns_the_truth():
    truth = blobs()
    op = operator()
    y = op(truth)  # noiseless expected counts: the data gradient vanishes at the truth

    def velocity(x, t):
        return (truth - x) / (1 - t[:, None, None])

    out = flowdps_sample(velocity, op, y, gens(2), FlowDPSSettings(steps=10, dc_steps=3))
    # times reach the velocity in float32 (as the network gets them): exact to ~1e-7 rad
    torch.testing.assert_close(out, truth, atol=1e-6, rtol=0)


def test_data_term_pulls_samples_towards_the_measurement():
    truth = blobs()
    op = operator()
    y = op.sample(truth, torch.Generator().manual_seed(3))
    velocity = gaussian_velocity(0.1, 0.3)
    prior = flowdps_sample(velocity, op, y, gens(2), FlowDPSSettings(steps=30, step_size=0.0))
    posterior = flowdps_sample(
        velocity, op, y, gens(2), FlowDPSSettings(steps=30, dc_steps=3, step_size=0.1)
    )
    assert torch.all(poisson_deviance(y, op(posterior)) < poisson_deviance(y, op(prior)))
    assert ((posterior - truth) ** 2).mean() < ((prior - truth) ** 2).mean()


def test_data_gradient_matches_finite_differences():
    op = operator()
    y = op.sample(blobs(), torch.Generator().manual_seed(0))
    x = 0.3 * torch.randn(2, H, H, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    scale = 0.7
    _, grad = NegativeLogLikelihood(op, y, scale, "poisson").value_and_gradient(x)
    direction = torch.randn(
        2, H, H, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    eps = 1e-6
    plus = poisson_nll(y, op(scale * (x + eps * direction))).sum()
    minus = poisson_nll(y, op(scale * (x - eps * direction))).sum()
    numeric = (plus - minus) / (2 * eps) / op.alpha  # the data term is divided by alpha
    analytic = (grad * direction).sum()
    assert abs(numeric - analytic) <= 1e-6 * abs(analytic)


def test_each_particle_reruns_alone_identically():
    defocus = torch.linspace(12000.0, 20000.0, 3)
    op3 = MicroscopeForward(Optics(), (H, H), 5.24, 20.0, defocus)
    op1 = MicroscopeForward(Optics(), (H, H), 5.24, 20.0, defocus[2:])
    y = op3.sample(blobs(3), torch.Generator().manual_seed(0))
    velocity = gaussian_velocity(0.1, 0.3)
    settings = FlowDPSSettings(steps=8)
    together = flowdps_sample(velocity, op3, y, gens(3), settings)
    alone = flowdps_sample(velocity, op1, y[2:], [torch_generator(0, 2)], settings)
    torch.testing.assert_close(alone[0], together[2])


def test_summary_of_samples():
    samples = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 2, 2)
    residuals = torch.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, 6.0]])
    summary = summarise_samples(samples, residuals)
    torch.testing.assert_close(summary.mean, samples.mean(dim=1))
    torch.testing.assert_close(summary.std, samples.std(dim=1))
    torch.testing.assert_close(summary.best[0], samples[0, 1])
    torch.testing.assert_close(summary.best[1], samples[1, 0])
