"""Energy distance: analytic values, scipy agreement, both estimators, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from tests.metrics.sets import check_gradient, two_sets, value_and_grad

from flowem.metrics import pairwise
from flowem.metrics.energy import (
    energy_against,
    energy_distance,
    energy_distance_pairwise,
    energy_distance_sorted,
)


def _gaussian_shift_energy(shift: float) -> float:
    """Population ``D_E^2`` of N(0, 1) and N(shift, 1): ``2 E|Z + s| - 2 E|Z|`` with
    ``Z ~ N(0, 2)``, from the folded normal mean ``E|N(s, v)| = sqrt(2v/pi) e^{-s^2/2v}
    + s erf(s / sqrt(2v))``."""
    v = 2.0
    folded = math.sqrt(2 * v / math.pi) * math.exp(-(shift**2) / (2 * v))
    folded += shift * math.erf(shift / math.sqrt(2 * v))
    return 2 * folded - 2 * math.sqrt(2 * v / math.pi)


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("d", [1, 3])
def test_two_point_masses_are_twice_their_distance_apart(d, unbiased):
    a, b = torch.zeros(d, dtype=torch.float64), torch.full((d,), 1.5, dtype=torch.float64)
    x, y = a.expand(7, d), b.expand(5, d)
    expected = 2 * float((a - b).norm())
    assert float(energy_distance(x, y, unbiased=unbiased)) == pytest.approx(expected, rel=1e-12)


def test_unbiased_estimate_averages_zero_for_one_law_and_the_population_value_for_two():
    # 400 independent pairs of small sets: the U-statistic's mean is the population D_E^2
    # (0 for one law), the V-statistic's mean sits above it by E|X-X'|/n + E|Y-Y'|/m
    gen = torch.Generator().manual_seed(0)
    n, m, repeats, shift = 12, 9, 400, 0.8
    draws = {k: [] for k in ("same_u", "same_v", "shift_u")}
    for _ in range(repeats):
        x = torch.randn(n, 1, generator=gen, dtype=torch.float64)
        y = torch.randn(m, 1, generator=gen, dtype=torch.float64)
        draws["same_u"].append(float(energy_distance(x, y, unbiased=True)))
        draws["same_v"].append(float(energy_distance(x, y)))
        draws["shift_u"].append(float(energy_distance(x, y + shift, unbiased=True)))
    mean = {k: np.mean(v) for k, v in draws.items()}
    se = {k: np.std(v) / math.sqrt(repeats) for k, v in draws.items()}
    assert abs(mean["same_u"]) < 4 * se["same_u"]
    floor = (2 / math.sqrt(math.pi)) * (1 / n + 1 / m)  # E|X-X'| = 2 / sqrt(pi) for N(0, 1)
    assert mean["same_v"] == pytest.approx(floor, abs=4 * se["same_v"])
    assert mean["same_v"] > 10 * se["same_v"]
    target = _gaussian_shift_energy(shift)
    assert mean["shift_u"] == pytest.approx(target, abs=4 * se["shift_u"])


def test_large_samples_reach_the_gaussian_shift_value():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20000, 1, generator=gen, dtype=torch.float64)
    y = torch.randn(20000, 1, generator=gen, dtype=torch.float64) + 1.0
    value = float(energy_distance(x, y, unbiased=True))
    assert value == pytest.approx(_gaussian_shift_energy(1.0), abs=0.01)


def test_energy_distance_matches_scipy_squared():
    # scipy's energy_distance = sqrt(2E|X-Y| - E|X-X'| - E|Y-Y'|) over the empirical laws
    # (V-statistics, diagonal included): our D_E^2 is its square, exactly.
    x, y = two_sets(300, 200, 1)
    expected = scipy.stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy()) ** 2
    assert float(energy_distance(x, y)) == pytest.approx(expected, rel=1e-10)


def test_a_set_against_itself_is_zero_and_the_distance_is_symmetric():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20, 3, 3, generator=gen, dtype=torch.float64)  # items flattened
    y = torch.randn(30, 3, 3, generator=gen, dtype=torch.float64)
    # 9 > DIRECT_MAX_DIM: distances by |a|^2 + |b|^2 - 2 a.b, so x_i to itself is ~1e-8, not 0
    assert float(energy_distance(x, x)) == pytest.approx(0.0, abs=1e-7)
    assert float(energy_distance(x[:, 0], x[:, 0])) == pytest.approx(0.0, abs=1e-12)
    assert float(energy_distance(x, y)) == pytest.approx(float(energy_distance(y, x)), rel=1e-12)


@pytest.mark.parametrize("unbiased", [False, True])
def test_sorted_and_pairwise_estimators_agree(unbiased):
    x, y = two_sets(257, 190, 1, seed=3)
    sorted_value = energy_distance_sorted(x, y, unbiased=unbiased)
    pairwise_value = energy_distance_pairwise(x, y, chunk_size=64, unbiased=unbiased)  # chunks
    assert float(sorted_value) == pytest.approx(float(pairwise_value), rel=1e-10)


def test_unbiased_is_the_v_statistic_with_self_pairs_left_out():
    x, y = two_sets(40, 25, 4, seed=2)
    dxy, dxx, dyy = torch.cdist(x, y), torch.cdist(x, x), torch.cdist(y, y)
    n, m = len(x), len(y)
    expected = 2 * dxy.mean() - dxx.sum() / (n * (n - 1)) - dyy.sum() / (m * (m - 1))
    assert float(energy_distance(x, y, unbiased=True)) == pytest.approx(float(expected), rel=1e-9)
    with pytest.raises(ValueError, match=">= 2 items"):
        energy_distance(x[:1], y, unbiased=True)


def test_chunked_pairwise_is_independent_of_chunk_size_high_dim():
    x, y = two_sets(50, 40, 20, seed=4)  # GEMM branch
    a = energy_distance_pairwise(x, y, chunk_size=7)
    b = energy_distance_pairwise(x, y, chunk_size=1000)
    direct = 2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()
    assert float(a) == pytest.approx(float(b), rel=1e-9)
    assert float(a) == pytest.approx(float(direct), rel=1e-6)


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("d", [1, 2, 12])
def test_energy_gradient_matches_finite_differences(d, unbiased):
    x, y = two_sets(40, 30, d, seed=d)
    check_gradient(lambda a, b: energy_distance(a, b, chunk_size=16, unbiased=unbiased), x, y)


def test_sorted_energy_value_and_analytic_gradient_equal_the_pairwise_autograd_ones():
    # the 1D estimator (searchsorted cross term, hand-written gradient) against plain autograd
    # through every pairwise distance
    x, y = two_sets(300, 411, 1, seed=11)
    value, grad = value_and_grad(lambda a: energy_distance_sorted(a, y), x)
    direct = lambda a: (  # noqa: E731
        2 * (a - y.T).abs().mean() - (a - a.T).abs().mean() - (y - y.T).abs().mean()
    )
    value_ref, grad_ref = value_and_grad(direct, x)
    assert float(value) == pytest.approx(float(value_ref), rel=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("d", [1, 20])
def test_unbiased_against_a_fixed_set_equals_the_full_estimate(d):
    x, y = two_sets(37, 120, d, seed=d + 30)
    against = energy_against(y, chunk_size=16, unbiased=True)
    for rows in (None, torch.tensor([5, 0, 77, 3, 119, 64])):
        target = y if rows is None else y[rows]
        value, grad = value_and_grad(lambda a, r=rows: against(a, r), x)
        ref = lambda a, t=target: energy_distance_pairwise(a, t, unbiased=True)  # noqa: E731
        value_ref, grad_ref = value_and_grad(ref, x)
        assert float(value) == pytest.approx(float(value_ref), rel=1e-10)
        torch.testing.assert_close(grad, grad_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("saved", [True, False])
def test_gemm_distance_sum_backward_matches_autograd_of_cdist(monkeypatch, saved):
    if not saved:  # inverse distances recomputed chunk by chunk in the backward pass
        monkeypatch.setattr(pairwise, "SAVED_ELEMENTS", 0)
    x, y = two_sets(45, 31, 16, seed=12)
    for other in (y, None):
        value, grad = value_and_grad(
            lambda a, o=other: pairwise.distance_sum(a, o, chunk_size=10), x
        )
        ref = lambda a, o=other: torch.cdist(a, a if o is None else o).sum()  # noqa: E731
        value_ref, grad_ref = value_and_grad(ref, x)
        assert float(value) == pytest.approx(float(value_ref), rel=1e-10)
        torch.testing.assert_close(grad, grad_ref, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(("n", "m"), [(8, 200), (64, 1000), (300, 300)])
def test_two_samples_of_one_law_are_zero_apart_at_any_sizes(n, m):
    """The reported (unbiased) estimator of two samples of one 16-dimensional law averages 0
    within noise whatever the two sizes; the V-statistic sits on its floor
    ``E|X-X'| (1/n + 1/m)`` instead, largest when one set is small."""
    gen = torch.Generator().manual_seed(n + m)
    repeats, d = 60, 16
    u, v = [], []
    for _ in range(repeats):
        x = torch.randn(n, d, generator=gen, dtype=torch.float64)
        y = torch.randn(m, d, generator=gen, dtype=torch.float64)
        u.append(float(energy_distance(x, y, unbiased=True)))
        v.append(float(energy_distance(x, y)))
    se = np.std(u) / math.sqrt(repeats)
    assert abs(np.mean(u)) < 4 * se
    spread = float(torch.cdist(x, x).sum() / (n * (n - 1)))  # E|X - X'| from the last draw
    floor = spread * (1 / n + 1 / m)
    assert np.mean(v) == pytest.approx(floor, rel=0.1)
    assert np.mean(v) > 10 * se
