"""Restoration samplers of the one loop: zero data weight is prior sampling; analytic Gaussian
posteriors; unit conversion with a prior scale other than 1; any operator of the protocol."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward
from flowem.physics.noise import GaussianNoise
from flowem.physics.operators import AreaDownsample, Blur, Identity, gaussian_psf
from flowem.posterior import FlowDPSSettings, SamplerSettings, flowdps_sample, sample
from flowem.posterior.steps import proximal_weight
from flowem.prior.analytic import GaussianPriorVelocity
from flowem.prior.solvers import euler
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
    out = sample(vel, noise, op, y, settings, generators=torch_generator(0, 2))
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
    out = sample(vel, _noise((b, 1, 16, 16)), op, y, settings, generators=torch_generator(0, 3))
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
    assert proximal_weight(settings.prior_error(0.0), 0.5) == pytest.approx(2.0 / 0.25)
    assert proximal_weight(settings.prior_error(0.5), 0.5) == pytest.approx(2.0 * 0.5 / 0.25)
    assert proximal_weight(settings.prior_error(0.3), 0.0) == math.inf
    assert proximal_weight(SamplerSettings(lr=0.0).prior_error(0.3), 0.0) == 0.0


def test_dc_denoising_of_a_gaussian_prior_approaches_the_posterior_mean():
    """Prior N(0, 1), y = x + N(0, sigma^2), lr = 1 (the prior's variance): the mean of many
    ``dc`` samples is close to the posterior mean y / (1 + sigma^2), and a pure data fit (y)
    or the prior mean (0) is far worse."""
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
        generators=torch_generator(0, 4),
        noise_std=sigma,
    )
    posterior_mean = y[:1] / (1 + sigma**2)
    error = (out.mean(0, keepdim=True) - posterior_mean).pow(2).mean().sqrt()
    scale = posterior_mean.pow(2).mean().sqrt()
    assert error < 0.1 * scale


@pytest.mark.parametrize(
    "settings",
    [
        FlowDPSSettings(steps=200, step_size=0.0, stochasticity=0.0),
        FlowDPSSettings(steps=200, dc_steps=0, stochasticity=0.0),
        SamplerSettings(method="si", steps=200, lr=0.0),
        SamplerSettings(method="pnp", steps=200, lr=0.0, eta=0.0),
        SamplerSettings(method="dps", steps=200, dps_steps=200, lr=0.0),
        SamplerSettings(method="dc", steps=200, lr=0.0, eta=0.0),
    ],
    ids=["flowdps-step0", "flowdps-dc0", "si", "pnp", "dps", "dc"],
)
def test_every_sampler_with_zero_data_weight_samples_the_prior(settings):
    """Prior N(m, s^2) in physical units, network units ``u = x / scale`` with scale 2: with
    no data weight every sampler returns prior samples (mean m, std s within 5 standard
    errors of 16,384 pixels; Euler's 200-step bias on the std is < 1.5 %), whatever ``y`` is."""
    scale, m, s, b = 2.0, 0.6, 0.8, 64
    vel = GaussianPriorVelocity(m / scale, s / scale)
    y = torch.full((b, 1, 8, 8), 5.0, dtype=torch.float64)  # far from the prior: ignored
    gens = [torch_generator(11, i) for i in range(b)]
    out = sample(vel, _noise((b, 1, 16, 16)), AreaDownsample(2), y, settings, gens, scale=scale)
    n = out.numel()
    assert abs(out.mean().item() - m) < 5 * s / math.sqrt(n)
    assert out.std().item() == pytest.approx(s, rel=0.015 + 5 * math.sqrt(0.5 / n))


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_dc_unit_conversion_against_the_gaussian_posterior(scale):
    """Physical prior x ~ N(0, scale^2) (the normaliser makes it N(0, 1) in network units),
    y = x + N(0, sigma^2): the mean of many ``dc`` samples (lr = 1, exact for a unit prior)
    is within 2 standard errors (+ 5 % bias) of the analytic posterior mean
    ``scale^2 / (scale^2 + sigma^2) y``, for a prior scale other than 1. Dropping ``/ scale``
    on ``y`` or on sigma, or applying it twice, changes the gain (0.2 or 0.9) by far more."""
    sigma, b = 1.0, 256
    vel = GaussianPriorVelocity(0.0, 1.0)
    truth = scale * _noise((1, 1, 8, 8), seed=7)
    y = (truth + sigma * _noise((1, 1, 8, 8), seed=8)).expand(b, -1, -1, -1)
    post_mean = scale**2 / (scale**2 + sigma**2) * y[:1]
    settings = SamplerSettings(method="dc", steps=40, lr=1.0, eta=1.0)
    noise = _noise((b, 1, 8, 8))
    op = Identity().with_noise(GaussianNoise(sigma))
    out = sample(vel, noise, op, y, settings, torch_generator(0, 4), scale)
    error = (out.mean(0, keepdim=True) - post_mean).pow(2).mean().sqrt()
    se = math.sqrt(scale**2 * sigma**2 / (scale**2 + sigma**2) / b)  # of a b-sample mean
    assert error < 2 * se + 0.05 * post_mean.pow(2).mean().sqrt()


def _flowdps_reference(scale, steps, zeta, k, t_grid, x0, y):
    """FlowDPS by hand for the prior N(0, 1) in network units, A = I, the ``l2`` likelihood
    ``|| y - scale u ||^2`` (gradient ``2 scale (scale u - y)``) and no re-noising: every
    quantity is affine in (x0, y), so this scalar recursion is exact."""
    x = x0
    for t, t_next in itertools.pairwise(t_grid):
        c = t / ((1 - t) ** 2 + t**2)  # E[x1 | x_t] = c x_t
        clean = c * x
        noise = (x - t * clean) / (1 - t)
        dc = clean
        for _ in range(k):
            dc = dc - zeta * 2 * scale * (scale * dc - y)
        blended = t * clean + (1 - t) * dc
        if t_next >= 1:
            return scale * blended
        x = t_next * blended + (1 - t_next) * noise
    raise AssertionError("grid must end at 1")


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_flowdps_unit_conversion_against_the_analytic_recursion(scale):
    """FlowDPS with an exact Gaussian prior, a linear operator and the Gaussian (``l2``)
    likelihood is affine in the noise and the data: its output equals the hand-written
    recursion to 1e-6 for a prior scale other than 1 (in physical units), and the data pull
    it from the prior mean towards the measurement."""
    steps, zeta, k, b = 12, 0.05 / scale**2, 3, 4
    vel = GaussianPriorVelocity(0.0, 1.0)
    y = scale * 0.8 * torch.ones(b, 1, 6, 6, dtype=torch.float64)
    gens = [torch_generator(3, i) for i in range(b)]
    settings = FlowDPSSettings(
        steps=steps, dc_steps=k, step_size=zeta, likelihood="l2", stochasticity=0.0
    )
    out = flowdps_sample(vel, Identity(), y, gens, settings, scale=scale)
    x0 = torch.stack([torch.randn(1, 6, 6, generator=torch_generator(3, i)) for i in range(b)])
    grid = [i / steps for i in range(steps + 1)]
    expected = _flowdps_reference(scale, steps, zeta, k, grid, x0.double(), y)
    # times reach the velocity in float32 (as the network gets them): equal to ~1e-8
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    prior_only = _flowdps_reference(scale, steps, 0.0, k, grid, x0.double(), y)
    assert (out - y).abs().mean() < 0.7 * (prior_only - y).abs().mean()


def test_flowdps_accepts_a_restoration_operator():
    """FlowDPS with area downsampling (image larger than the data) and an all-knowing prior
    returns the truth; with a Gaussian prior its samples fit the data better than the prior's."""
    truth = 0.5 * _noise((2, 1, 8, 8), seed=3)
    op = AreaDownsample(2)
    y = op(truth)
    gens = [torch_generator(5, i) for i in range(2)]
    settings = FlowDPSSettings(steps=20, dc_steps=3, step_size=0.5, likelihood="l2")

    def all_knowing(x, t):
        return (truth - x) / (1 - t.to(x.dtype)[:, None, None, None])

    out = flowdps_sample(all_knowing, op, y, gens, settings, image_shape=(1, 8, 8))
    torch.testing.assert_close(out, truth, atol=1e-6, rtol=0)
    vel = GaussianPriorVelocity(0.0, 0.5)
    posterior = flowdps_sample(vel, op, y, gens, settings, image_shape=(1, 8, 8))
    prior = flowdps_sample(
        vel, op, y, gens, FlowDPSSettings(steps=20, step_size=0.0), 1.0, (1, 8, 8)
    )
    assert (op(posterior) - y).pow(2).mean() < 0.5 * (op(prior) - y).pow(2).mean()


@pytest.mark.parametrize("method", ["si", "dps"])
def test_restoration_sampler_accepts_the_microscope_operator(method):
    """The SI and DPS updates with the (nonlinear) microscope operator and a prior scale of
    0.3 rad: an all-knowing prior returns the truth, and a Gaussian prior's samples fit the
    counts better with the data term than without it."""
    size, scale = 12, 0.3
    # 1 A pixels at 1 e-/A^2 (alpha = 1 count): least squares on counts of order 1
    op = MicroscopeForward(Optics(), (size, size), 1.0, 1.0, torch.tensor([15000.0, 20000.0]))
    truth = 0.3 * torch.exp(-((torch.arange(size) - 6.0) ** 2) / 8.0).outer(torch.ones(size))
    truth = torch.stack([truth, truth.T]).double()
    y = op(truth)
    noise = _noise((2, size, size))
    settings = SamplerSettings(method=method, steps=20, lr=0.2, dps_steps=20, dps_lr=0.2)

    def all_knowing(x, t):
        return (truth / scale - x) / (1 - t.to(x.dtype)[:, None, None])

    out = sample(all_knowing, noise, op, y, settings, scale=scale)
    torch.testing.assert_close(out, truth, atol=1e-6, rtol=0)
    vel = GaussianPriorVelocity(0.0, 1.0)
    posterior = sample(vel, noise, op, y, settings, scale=scale)
    prior = sample(vel, noise, op, y, SamplerSettings(method=method, lr=0.0), scale=scale)
    assert (op(posterior) - y).pow(2).mean() < 0.5 * (op(prior) - y).pow(2).mean()
