"""Posterior samplers: zero data weight is prior sampling; analytic Gaussian posteriors."""

from __future__ import annotations

import math

import pytest
import torch

from flowem.prior.solvers import euler
from flowem.restore.analytic import GaussianPriorVelocity
from flowem.restore.operators import AreaDownsample, Blur, gaussian_psf
from flowem.restore.samplers import SamplerSettings, sample
from flowem.runtime import torch_generator


def _noise(shape, seed=0):
    return torch.randn(shape, generator=torch_generator(seed, 1), dtype=torch.float64)


@pytest.mark.parametrize(
    "settings",
    [
        SamplerSettings(method="si", steps=12, lr=0.0),
        SamplerSettings(method="pnp", steps=12, lr=0.0, eta=0.0),
        SamplerSettings(method="dps", steps=12, dps_steps=30, lr=0.0),
        SamplerSettings(method="dc", steps=12, lr=0.0, eta=0.0),
    ],
    ids=["si", "pnp", "dps", "dc"],
)
def test_zero_data_weight_is_euler_prior_sampling(settings, conv_velocity):
    """With lr = 0 every update is the Euler ODE sampler of the prior, same noise."""
    noise = _noise((3, 1, 10, 10))
    op = Blur(gaussian_psf(1.0))
    y = torch.randn(3, 1, 10, 10, dtype=torch.float64)  # ignored at zero weight
    out = sample(conv_velocity, noise, op, y, settings)
    reference = euler(conv_velocity, noise, settings.n_steps).x
    torch.testing.assert_close(out, reference, rtol=1e-10, atol=1e-10)
    # and it is not trivially so: data weight changes the result
    weighted = sample(
        conv_velocity, noise, op, y, SamplerSettings(**{**settings.to_dict(), "lr": 1.0})
    )
    assert (weighted - reference).abs().max() > 1e-3


def test_pnp_with_fresh_noise_follows_the_analytic_recursion():
    """PnP-flow (eta = 1, lr = 0) is not an ODE sampler: each step outputs a denoiser mean.

    For the prior N(m, s^2) the denoiser is affine, D_t(z) = m + c_t (z - t m) with
    c_t = t s^2 / ((1 - t)^2 + t^2 s^2), so with z~ = t x + (1 - t) xi the output variance obeys
    V_k = c_k^2 (t_k^2 V_(k-1) + (1 - t_k)^2) (V_0 = 0 at t = 0) and the mean stays m. This
    shrinks below s^2 (PnP-flow's known over-smoothing): the test checks the implementation
    against that recursion, within 5 standard errors of a sample mean / variance.
    """
    m, s, n_steps = 0.3, 0.5, 32
    vel = GaussianPriorVelocity(m, s)
    noise = _noise((64, 1, 32, 32))  # 65,536 i.i.d. pixels
    op = AreaDownsample(2)
    y = torch.zeros(64, 1, 16, 16, dtype=torch.float64)
    settings = SamplerSettings(method="pnp", steps=n_steps, lr=0.0, eta=1.0)
    out = sample(vel, noise, op, y, settings, generator=torch_generator(0, 2))
    var = 0.0
    for k in range(n_steps):
        t = k / n_steps
        c = t * s**2 / ((1 - t) ** 2 + t**2 * s**2)
        var = c**2 * (t**2 * var + (1 - t) ** 2)
    n = out.numel()
    assert var < 0.6 * s**2  # the recursion's shrinkage is large, so the check has power
    assert abs(out.mean().item() - m) < 5 * math.sqrt(var / n)
    assert abs(out.var().item() - var) < 5 * var * math.sqrt(2 / n)


@pytest.mark.parametrize(
    ("method", "max_residual", "check_spread"),
    [("si", 0.02, True), ("pnp", 0.2, False), ("dps", 0.1, True), ("dc", 1e-9, False)],
)
def test_noiseless_super_resolution_posterior_mean(method, max_residual, check_spread):
    """Prior N(m, s^2 I), y = A x (2 x 2 block means, no noise). The posterior mean is y_j on
    every pixel of block j; within a block the posterior spread is s^2 (1 - 1/4).

    Bounds: the average of B samples misses the posterior mean by RMS se = s sqrt(3/4) / sqrt(B)
    from sampling alone; we allow 1.5 se (a bias of at most 1.1 se). The data residual is
    relative to the prior mean's, ||A m - y||. SI and DPS are samplers: their within-block
    spread must match the analytic one within 5 % (Euler with 50 steps is 3 % low). PnP-flow
    returns denoiser means, so its spread is not checked; nor is ``dc``'s (same re-noising),
    whose last proximal step is the exact projection here (no noise): residual ~ 0.
    """
    m, s, b = 0.2, 0.5, 256
    vel = GaussianPriorVelocity(m, s)
    op = AreaDownsample(2)
    truth = m + s * _noise((1, 1, 16, 16), seed=5)
    y = op.forward(truth).expand(b, -1, -1, -1)
    settings = SamplerSettings(method=method, steps=50, lr=1.0, dps_steps=200)
    out = sample(vel, _noise((b, 1, 16, 16)), op, y, settings, generator=torch_generator(0, 3))
    posterior_mean = op.data_gradient(torch.zeros_like(truth), -op.forward(truth))
    residual = (op.forward(out) - y).pow(2).mean().sqrt()
    prior_residual = (op.forward(torch.full_like(truth, m)) - y[:1]).pow(2).mean().sqrt()
    assert residual < max_residual * prior_residual
    se = s * math.sqrt(0.75) / math.sqrt(b)
    assert (out.mean(0, keepdim=True) - posterior_mean).pow(2).mean().sqrt() < 1.5 * se
    if check_spread:
        within = out - op.data_gradient(torch.zeros_like(out), -op.forward(out))
        assert within.std().item() == pytest.approx(s * math.sqrt(0.75), rel=0.05)


def test_gamma_schedule():
    settings = SamplerSettings(lr=2.0, alpha=0.3)
    assert settings.gamma(0.0) == 2.0
    assert settings.gamma(0.75) == pytest.approx(2.0 * 0.25**0.3)
    assert SamplerSettings(lr=2.0, alpha=0.0).gamma(0.99) == 2.0
    dps = SamplerSettings(method="dps", lr=1.0, steps=50, dps_steps=500)
    assert dps.gamma(0.0) == pytest.approx(0.1)


def test_dc_weights_the_data_by_its_noise():
    """``dc`` data weight r_t^2 / sigma^2 with r_t^2 = lr (1 - t)^2 / (t^2 + (1 - t)^2)."""
    settings = SamplerSettings(method="dc", lr=2.0)
    assert settings.data_weight(0.0, 0.5) == pytest.approx(2.0 / 0.25)
    assert settings.data_weight(0.5, 0.5) == pytest.approx(2.0 * 0.5 / 0.25)
    assert settings.data_weight(0.3, 0.0) == math.inf


def test_dc_denoising_of_a_gaussian_prior_approaches_the_posterior_mean():
    """Prior N(0, 1), y = x + N(0, sigma^2), lr = 1 (the prior's variance): the mean of many
    ``dc`` samples is close to the posterior mean y / (1 + sigma^2), and a pure data fit (y)
    or the prior mean (0) is far worse."""
    from flowem.restore.operators import Identity

    sigma, b = 0.6, 256
    vel = GaussianPriorVelocity(0.0, 1.0)
    truth = _noise((1, 1, 16, 16), seed=7)
    y = (truth + sigma * _noise((1, 1, 16, 16), seed=8)).expand(b, -1, -1, -1)
    settings = SamplerSettings(method="dc", steps=30, lr=1.0, eta=1.0)
    out = sample(
        vel,
        _noise((b, 1, 16, 16)),
        Identity(),
        y,
        settings,
        generator=torch_generator(0, 4),
        noise_std=sigma,
    )
    posterior_mean = y[:1] / (1 + sigma**2)
    error = (out.mean(0, keepdim=True) - posterior_mean).pow(2).mean().sqrt()
    scale = posterior_mean.pow(2).mean().sqrt()
    assert error < 0.1 * scale
