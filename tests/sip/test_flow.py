"""The particle flow: a short 1D deconvolution converges; divergence stops with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from flowem.runtime import rng, torch_generator
from flowem.sip.experiments import INITIAL_1D, TRUE_1D
from flowem.sip.flow import FlowDivergedError, VectorAdam, learning_rates, run_flow
from flowem.sip.forward_1d import AdditiveNoise
from flowem.sip.losses import make_loss


@pytest.mark.parametrize("loss", ["energy", "kl"])
def test_short_1d_run_lowers_w1_by_a_large_factor(loss):
    forward = AdditiveNoise(0.5)
    truth = torch.as_tensor(TRUE_1D.sample(3000, rng(0, 1)), dtype=torch.float32)
    observed = forward(truth, torch_generator(0, 2))
    initial = torch.as_tensor(INITIAL_1D.sample(3000, rng(0, 3)), dtype=torch.float32)
    reference = TRUE_1D.sample(100_000, rng(0, 5))[:, 0]
    result = run_flow(
        initial, forward, observed, make_loss(loss), lr=0.03, iterations=400,
        generator=torch_generator(0, 4), log_every=100, progress=False,
        monitor=lambda th: {"w1": wasserstein_distance(th.numpy().ravel(), reference)},
    )  # fmt: skip
    w1_initial = wasserstein_distance(initial.numpy().ravel(), reference)
    w1_final = wasserstein_distance(result.particles.numpy().ravel(), reference)
    assert w1_final < w1_initial / 4, (w1_initial, w1_final)
    assert [h["iteration"] for h in result.history] == [100, 200, 300, 400]


def test_flow_is_reproducible_and_stops_at_target():
    forward = AdditiveNoise(1.0)
    observed = forward(torch.full((500, 1), 2.0), torch_generator(1, 2))
    initial = torch.zeros(500, 1)
    runs = [
        run_flow(
            initial,
            forward,
            observed,
            make_loss("energy"),
            lr=0.05,
            iterations=300,
            generator=torch_generator(1, 4),
            log_every=10,
            progress=False,
            monitor=lambda th: {"mean": float(th.mean())},
            stop=lambda rec: rec["mean"] > 1.5,
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0].particles, runs[1].particles)
    assert runs[0].stopped_at is not None and runs[0].stopped_at < 300
    assert runs[0].history[-1]["mean"] > 1.5


def test_divergence_raises_a_clear_error():
    observed = torch.randn(100, 1)
    nan_forward = lambda th, gen: th * float("nan")  # noqa: E731
    with pytest.raises(FlowDivergedError, match="diverged at iteration 1"):
        run_flow(torch.zeros(100, 1), nan_forward, observed, make_loss("energy"), lr=0.1,
                 iterations=10, generator=torch_generator(0), progress=False)  # fmt: skip
    with pytest.raises(FlowDivergedError, match="lower the learning rate"):
        run_flow(torch.zeros(100, 1), AdditiveNoise(1.0), observed, make_loss("energy"),
                 lr=1e38, iterations=50, generator=torch_generator(0), progress=False)  # fmt: skip


def test_vector_adam_uses_one_rate_per_parameter():
    params = torch.zeros(3, 2)
    adam = VectorAdam(learning_rates([0.1, 1.0], 2, torch.float32))
    adam.step(params, torch.ones(3, 2))
    np.testing.assert_allclose(params.numpy(), np.tile([-0.1, -1.0], (3, 1)), rtol=1e-5)
    with pytest.raises(ValueError, match="2 learning rates for 3"):
        learning_rates([0.1, 1.0], 3, torch.float32)


def test_w1_to_reference_equals_scipy():
    from flowem.sip.run_1d import W1ToReference

    gen = np.random.default_rng(0)
    reference = gen.normal(size=6000)
    w1 = W1ToReference(reference)
    for n in (600, 1000, 777):  # 777: not a divisor of 6000, so the scipy route
        sample = gen.normal(0.3, 1.4, size=(n, 1))
        expected = wasserstein_distance(sample.ravel(), reference)
        assert w1(sample) == pytest.approx(expected, rel=1e-10)
    weights = gen.uniform(size=600)
    sample = gen.normal(size=600)
    expected = wasserstein_distance(sample, reference, u_weights=weights)
    assert w1(sample, weights) == pytest.approx(expected, rel=1e-12)
