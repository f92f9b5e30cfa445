"""The linear CFM path, its target and the clean/noise estimates follow SPEC section 1."""

import torch

from flowem.prior.path import (
    cfm_loss,
    clean_estimate,
    interpolate,
    noise_estimate,
    target_velocity,
)


def _pair(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(5, 1, 4, 4, generator=gen), torch.randn(5, 1, 4, 4, generator=gen) + 3


def test_path_starts_at_noise_and_ends_at_data():
    x0, x1 = _pair()
    assert torch.equal(interpolate(x0, x1, torch.zeros(5)), x0)
    assert torch.equal(interpolate(x0, x1, torch.ones(5)), x1)


def test_path_is_linear_per_sample():
    x0, x1 = _pair()
    t = torch.tensor([0.0, 0.1, 0.5, 0.7, 1.0])
    expected = torch.stack([(1 - s) * a + s * b for s, a, b in zip(t, x0, x1, strict=True)])
    torch.testing.assert_close(interpolate(x0, x1, t), expected)


def test_target_is_time_derivative_of_path():
    x0, x1 = _pair()
    t = torch.rand(5, requires_grad=True)
    x_t = interpolate(x0, x1, t)
    # d/dt of sum(x_t * w) equals sum(target * w) for any weights w.
    w = torch.randn_like(x_t)
    (grad,) = torch.autograd.grad((x_t * w).sum(), t)
    torch.testing.assert_close(grad, (target_velocity(x0, x1) * w).flatten(1).sum(1))


def test_estimates_recover_endpoints_from_true_velocity():
    x0, x1 = _pair()
    t = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0])
    x_t, v = interpolate(x0, x1, t), target_velocity(x0, x1)
    torch.testing.assert_close(clean_estimate(x_t, t, v), x1)
    torch.testing.assert_close(noise_estimate(x_t, t, v), x0)


def test_loss_is_mean_squared_velocity_error():
    x0, x1 = _pair()
    t = torch.rand(5)
    oracle = lambda x, s: target_velocity(x0, x1)  # noqa: E731
    assert cfm_loss(oracle, x1, x0, t).item() == 0.0
    zero = lambda x, s: torch.zeros_like(x)  # noqa: E731
    torch.testing.assert_close(cfm_loss(zero, x1, x0, t), ((x1 - x0) ** 2).mean())
    # the network sees x_t and t, not the endpoints
    seen = {}

    def spy(x, s):
        seen["x"], seen["t"] = x, s
        return torch.zeros_like(x)

    cfm_loss(spy, x1, x0, t)
    torch.testing.assert_close(seen["x"], interpolate(x0, x1, t))
    assert torch.equal(seen["t"], t)
