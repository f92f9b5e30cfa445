"""Losses: finite-difference gradients, KDE mass, the observed set's terms computed once
(the energy distance itself: tests/metrics/test_energy.py)."""

from __future__ import annotations

import math

import pytest
import torch
from tests.metrics.sets import check_gradient, two_sets, value_and_grad

from flowem.errors import ConfigError
from flowem.metrics.energy import energy_distance_pairwise
from flowem.sip.kde import kde_1d_binned, kl_kde, silverman_bandwidth
from flowem.sip.losses import make_loss, mmd_gaussian


def test_mmd_gradient_matches_finite_differences():
    x, y = two_sets(40, 30, 3, seed=5)
    check_gradient(lambda a, b: mmd_gaussian(a, b, 0.8, chunk_size=16), x, y)
    assert float(mmd_gaussian(x, x, 0.8)) == pytest.approx(0.0, abs=1e-12)


def test_kl_gradients_match_finite_differences():
    x, y = two_sets(40, 30, 2, seed=6)
    check_gradient(lambda a, b: kl_kde(a, b, 0.5), x, y)  # pairwise KDE
    x1, y1 = two_sets(200, 150, 1, seed=7)
    # binned KDE: piecewise linear in each point, so a step inside one bin is exact
    check_gradient(lambda a, b: kl_kde(a, b, 0.4, n_bins=512), x1, y1, eps=1e-7)


def test_binned_kde_integrates_to_one_and_matches_direct_kde():
    x, _ = two_sets(5000, 1, 1, seed=8)
    h = silverman_bandwidth(x)
    assert h == pytest.approx(float(x.std()) * (4 / (3 * 5000)) ** 0.2, rel=1e-12)
    lo, n_bins = -8.0, 4096
    dx = 16.0 / (n_bins - 1)
    density = kde_1d_binned(x[:, 0], lo, dx, n_bins, h)
    assert float(density.sum() * dx) == pytest.approx(1.0, abs=1e-6)
    grid = lo + dx * torch.arange(n_bins, dtype=torch.float64)
    direct = torch.exp(-((grid[:, None] - x[:, 0]) ** 2) / (2 * h * h)).mean(1)
    direct = direct / (h * math.sqrt(2 * math.pi))
    assert float((density - direct).abs().max()) < 1e-3 * float(direct.max())


def test_kl_binned_close_to_pairwise_and_zero_for_same_set():
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(2000, 1, generator=gen, dtype=torch.float64)
    y = 1.3 * torch.randn(2000, 1, generator=gen, dtype=torch.float64) + 0.3  # covers x's tails
    binned = kl_kde(x, y, n_bins=4096)
    pairwise = kl_kde(x, y, binned=False)
    assert float(binned) == pytest.approx(float(pairwise), rel=2e-2)
    assert float(kl_kde(x, x)) == pytest.approx(0.0, abs=1e-9)


def test_unknown_loss_is_rejected():
    with pytest.raises(ConfigError, match="unknown SIP loss"):
        make_loss("wasserstein")


@pytest.mark.parametrize("d", [1, 3, 20])
def test_energy_against_a_fixed_set_equals_the_full_loss_and_its_gradient(d):
    # observed-only terms cached once: same value (the full D_E^2) and gradient, also for
    # minibatches of the observed set
    x, y = two_sets(37, 120, d, seed=d + 20)
    loss = make_loss("energy", chunk_size=16)
    against = loss.against(y)
    for rows in (None, torch.tensor([5, 0, 77, 3, 119, 64])):
        target = y if rows is None else y[rows]
        for _ in range(2):  # the second call reuses the cache
            value, grad = value_and_grad(lambda a, r=rows: against(a, r), x)
            value_ref, grad_ref = value_and_grad(
                lambda a, t=target: energy_distance_pairwise(a, t), x
            )
            assert float(value) == pytest.approx(float(value_ref), rel=1e-10)
            torch.testing.assert_close(grad, grad_ref, rtol=1e-8, atol=1e-12)


def test_kl_against_a_fixed_set_equals_the_full_loss_inside_and_outside_its_grid():
    x, y = two_sets(500, 800, 1, seed=13)
    loss = make_loss("kl", n_bins=1024)
    against = loss.against(y)
    for shift in (0.0, 25.0, 0.0):  # 25: the simulated set leaves the observed grid
        xs = x + shift
        value, grad = value_and_grad(lambda a: against(a), xs)
        value_ref, grad_ref = value_and_grad(lambda a: kl_kde(a, y, n_bins=1024), xs)
        assert float(value) == float(value_ref)
        torch.testing.assert_close(grad, grad_ref, rtol=0, atol=0)
    rows = torch.arange(0, 800, 3)
    assert float(against(x, rows)) == float(kl_kde(x, y[rows], n_bins=1024))
