"""ODE solvers against the exact flow of a Gaussian data distribution.

For data N(mu, s^2 I) the marginal velocity of the linear path is
``v(x, t) = mu + (t s^2 - (1 - t)) / sigma_t^2 (x - t mu)``, sigma_t^2 = (1 - t)^2 + t^2 s^2,
and its flow maps noise x0 exactly to ``mu + s x0`` at t = 1.
"""

import pytest
import torch

from flowem.prior.solvers import dopri5, euler

MU, S = 1.5, 0.4


def gaussian_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t.to(torch.float64).reshape(-1, *([1] * (x.ndim - 1)))
    var = (1 - t) ** 2 + t**2 * S**2
    return MU + (t * S**2 - (1 - t)) / var * (x - t * MU)


@pytest.fixture
def noise() -> torch.Tensor:
    return torch.randn(64, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_euler_is_first_order(noise):
    exact = MU + S * noise
    errors = [(euler(gaussian_velocity, noise, n).x - exact).abs().max().item() for n in (50, 100)]
    assert 1.8 < errors[0] / errors[1] < 2.2


def test_euler_counts_one_evaluation_per_step(noise):
    calls = []
    result = euler(lambda x, t: calls.append(t[0].item()) or torch.zeros_like(x), noise, 4)
    assert calls == [0.0, 0.25, 0.5, 0.75]
    assert result.evaluations == 4


def test_dopri5_meets_tolerance_with_few_steps(noise):
    exact = MU + S * noise
    tight = dopri5(gaussian_velocity, noise, rtol=1e-7, atol=1e-7)
    loose = dopri5(gaussian_velocity, noise, rtol=1e-3, atol=1e-3)
    assert (tight.x - exact).abs().max().item() < 1e-5
    assert (loose.x - exact).abs().max().item() < 1e-2
    assert loose.evaluations < tight.evaluations
    # error control, not a fixed grid: the loose solve needs far fewer evaluations than Euler
    assert loose.evaluations < 60


def test_dopri5_ends_exactly_at_one(noise):
    times = []

    def constant(x, t):
        times.append(t[0].item())
        return torch.ones_like(x)

    result = dopri5(constant, noise, first_step=0.3)
    assert max(times) == 1.0
    torch.testing.assert_close(result.x, noise + 1)
