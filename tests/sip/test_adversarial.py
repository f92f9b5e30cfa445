"""The WGAN-GP critic's gradient penalty (review eq. 30): where it is evaluated and its
derivatives."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from flowem.sip.adversarial import Critic, ParticleGenerator, gradient_penalty

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _value(*args) -> float:
    return float(gradient_penalty(*args).detach())


def test_penalty_is_evaluated_on_the_interpolates():
    # C(x) = |x|^2 / 2 has grad C(x) = x: the penalty is mean (|x_hat| - 1)^2 exactly
    critic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    real = torch.randn(6, 4, 4, generator=_gen(0), dtype=torch.float64)
    fake = 3.0 * torch.randn(6, 4, 4, generator=_gen(1), dtype=torch.float64)
    eps = torch.rand(6, generator=_gen(2), dtype=torch.float64)
    x_hat = eps[:, None, None] * real + (1 - eps[:, None, None]) * fake
    expected = (x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert _value(critic, real, fake, eps) == pytest.approx(float(expected))
    at_real = (real.flatten(1).norm(dim=1) - 1).pow(2).mean()
    at_fake = (fake.flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert abs(float(expected - at_real)) > 0.1 and abs(float(expected - at_fake)) > 0.1
    # eps = 1 is the real image, eps = 0 the generated one
    ones, zeros = torch.ones(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    assert _value(critic, real, fake, ones) == pytest.approx(float(at_real))
    assert _value(critic, real, fake, zeros) == pytest.approx(float(at_fake))


def test_penalty_gradients_match_finite_differences():
    """The penalty's gradient in the images and in the critic's weights (what training
    descends) against central differences, in float64 through the real critic."""
    torch.manual_seed(0)
    critic = Critic(8, channels=2).double()
    real = torch.randn(3, 8, 8, generator=_gen(1), dtype=torch.float64, requires_grad=True)
    fake = torch.randn(3, 8, 8, generator=_gen(2), dtype=torch.float64, requires_grad=True)
    eps = torch.rand(3, generator=_gen(3), dtype=torch.float64)
    # fast mode: the derivative along random directions, against central differences
    check = lambda f, x: torch.autograd.gradcheck(f, x, fast_mode=True)  # noqa: E731
    assert check(lambda r, f: gradient_penalty(critic, r, f, eps), (real, fake))
    names = ["features.0.weight", "head.weight"]
    weights = {n: p.detach().clone().requires_grad_(True) for n, p in critic.named_parameters()}

    def penalty(*chosen):
        params = {**weights, **dict(zip(names, chosen, strict=True))}
        call = lambda x: functional_call(critic, params, (x,))  # noqa: E731
        return gradient_penalty(call, real.detach(), fake.detach(), eps)

    assert check(penalty, tuple(weights[n] for n in names))


def test_particle_generator_draws_are_the_particles_and_minibatches_of_them():
    initial = torch.randn(10, 3, generator=_gen(0)) * torch.tensor([1.0, 5.0, 0.1]) + 4.0
    model = ParticleGenerator(initial)
    assert torch.allclose(model.draws(0, _gen(1)), initial, atol=1e-5)
    batch = model.sample(4, _gen(2))
    assert batch.shape == (4, 3)
    assert all(any(torch.allclose(b, row, atol=1e-5) for row in initial) for b in batch)
