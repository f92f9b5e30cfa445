"""Losses: scipy agreement, estimator agreement, finite-difference gradients, KDE mass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from flowem.errors import ConfigError
from flowem.sip.kde import kde_1d_binned, kl_kde, silverman_bandwidth
from flowem.sip.losses import (
    energy_distance,
    energy_distance_pairwise,
    energy_distance_sorted,
    make_loss,
    mmd_gaussian,
)


def _samples(n: int, m: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = 0.7 * torch.randn(m, d, generator=gen, dtype=torch.float64) + 0.5
    return x, y


def test_energy_distance_matches_scipy_squared():
    # scipy's energy_distance = sqrt(2E|X-Y| - E|X-X'| - E|Y-Y'|) over the empirical laws
    # (V-statistics, diagonal included): our D_E^2 is its square, exactly.
    x, y = _samples(300, 200, 1)
    expected = scipy.stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy()) ** 2
    assert float(energy_distance(x, y)) == pytest.approx(expected, rel=1e-10)


def test_sorted_and_pairwise_estimators_agree():
    x, y = _samples(257, 190, 1, seed=3)
    sorted_value = energy_distance_sorted(x, y)
    pairwise = energy_distance_pairwise(x, y, chunk_size=64)  # several chunks
    assert float(sorted_value) == pytest.approx(float(pairwise), rel=1e-10)


def test_chunked_pairwise_is_independent_of_chunk_size_high_dim():
    x, y = _samples(50, 40, 20, seed=4)  # GEMM branch
    a = energy_distance_pairwise(x, y, chunk_size=7)
    b = energy_distance_pairwise(x, y, chunk_size=1000)
    direct = 2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()
    assert float(a) == pytest.approx(float(b), rel=1e-9)
    assert float(a) == pytest.approx(float(direct), rel=1e-6)


def _fd_check(loss, x, y, eps=1e-6, coords=6):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(x, y), x)
    flat = x.detach().reshape(-1)
    for i in torch.linspace(0, flat.numel() - 1, coords).long().tolist():
        plus, minus = flat.clone(), flat.clone()
        plus[i] += eps
        minus[i] -= eps
        fd = (loss(plus.reshape(x.shape), y) - loss(minus.reshape(x.shape), y)) / (2 * eps)
        assert float(grad.reshape(-1)[i]) == pytest.approx(float(fd), rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("d", [1, 2, 12])
def test_energy_gradient_matches_finite_differences(d):
    x, y = _samples(40, 30, d, seed=d)
    _fd_check(lambda a, b: energy_distance(a, b, chunk_size=16), x, y)


def test_mmd_gradient_matches_finite_differences():
    x, y = _samples(40, 30, 3, seed=5)
    _fd_check(lambda a, b: mmd_gaussian(a, b, 0.8, chunk_size=16), x, y)
    assert float(mmd_gaussian(x, x, 0.8)) == pytest.approx(0.0, abs=1e-12)


def test_kl_gradients_match_finite_differences():
    x, y = _samples(40, 30, 2, seed=6)
    _fd_check(lambda a, b: kl_kde(a, b, 0.5), x, y)  # pairwise KDE
    x1, y1 = _samples(200, 150, 1, seed=7)
    # binned KDE: piecewise linear in each point, so a step inside one bin is exact
    _fd_check(lambda a, b: kl_kde(a, b, 0.4, n_bins=512), x1, y1, eps=1e-7)


def test_binned_kde_integrates_to_one_and_matches_direct_kde():
    x, _ = _samples(5000, 1, 1, seed=8)
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


def test_energy_distance_of_separated_sets_grows():
    x, _ = _samples(100, 1, 2)
    near = energy_distance(x, x + 0.1)
    far = energy_distance(x, x + 3.0)
    assert 0 < float(near) < float(far)
    assert np.isfinite(float(far))


def _grad(loss, x):
    x = x.clone().requires_grad_(True)
    value = loss(x)
    (grad,) = torch.autograd.grad(value, x)
    return value.detach(), grad


def test_sorted_energy_value_and_analytic_gradient_equal_the_pairwise_autograd_ones():
    # the 1D estimator (searchsorted cross term, hand-written gradient) against plain autograd
    # through every pairwise distance
    x, y = _samples(300, 411, 1, seed=11)
    value, grad = _grad(lambda a: energy_distance_sorted(a, y), x)
    direct = lambda a: (  # noqa: E731
        2 * (a - y.T).abs().mean() - (a - a.T).abs().mean() - (y - y.T).abs().mean()
    )
    value_ref, grad_ref = _grad(direct, x)
    assert float(value) == pytest.approx(float(value_ref), rel=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("d", [1, 3, 20])
def test_energy_against_a_fixed_set_equals_the_full_loss_and_its_gradient(d):
    # observed-only terms cached once: same value (the full D_E^2) and gradient, also for
    # minibatches of the observed set
    x, y = _samples(37, 120, d, seed=d + 20)
    loss = make_loss("energy", chunk_size=16)
    against = loss.against(y)
    for rows in (None, torch.tensor([5, 0, 77, 3, 119, 64])):
        target = y if rows is None else y[rows]
        for _ in range(2):  # the second call reuses the cache
            value, grad = _grad(lambda a, r=rows: against(a, r), x)
            value_ref, grad_ref = _grad(lambda a, t=target: energy_distance_pairwise(a, t), x)
            assert float(value) == pytest.approx(float(value_ref), rel=1e-10)
            torch.testing.assert_close(grad, grad_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("saved", [True, False])
def test_gemm_distance_sum_backward_matches_autograd_of_cdist(monkeypatch, saved):
    from flowem.sip import pairwise

    if not saved:  # inverse distances recomputed chunk by chunk in the backward pass
        monkeypatch.setattr(pairwise, "SAVED_ELEMENTS", 0)
    x, y = _samples(45, 31, 16, seed=12)
    for other in (y, None):
        value, grad = _grad(lambda a, o=other: pairwise.distance_sum(a, o, chunk_size=10), x)
        ref = lambda a, o=other: torch.cdist(a, a if o is None else o).sum()  # noqa: E731
        value_ref, grad_ref = _grad(ref, x)
        assert float(value) == pytest.approx(float(value_ref), rel=1e-10)
        torch.testing.assert_close(grad, grad_ref, rtol=1e-7, atol=1e-10)


def test_kl_against_a_fixed_set_equals_the_full_loss_inside_and_outside_its_grid():
    x, y = _samples(500, 800, 1, seed=13)
    loss = make_loss("kl", n_bins=1024)
    against = loss.against(y)
    for shift in (0.0, 25.0, 0.0):  # 25: the simulated set leaves the observed grid
        xs = x + shift
        value, grad = _grad(lambda a: against(a), xs)
        value_ref, grad_ref = _grad(lambda a: kl_kde(a, y, n_bins=1024), xs)
        assert float(value) == float(value_ref)
        torch.testing.assert_close(grad, grad_ref, rtol=0, atol=0)
    rows = torch.arange(0, 800, 3)
    assert float(against(x, rows)) == float(kl_kde(x, y[rows], n_bins=1024))
